//! `tierseal rewrap`.

use std::io::{BufRead, BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::{Operation, announce, custodian_keyring, open_keystore, refuse_overwrite, say};
use crate::CliError;
use crate::cli::{GlobalArgs, RewrapArgs};
use crate::rewrap::{Progress, Summary, rewrap_lines};
use tierseal::Keyring;
use tierseal::audit::Action;

pub(super) fn run(global: &GlobalArgs, args: &RewrapArgs) -> Result<ExitCode, CliError> {
    let target: PathBuf = match (&args.output, args.in_place) {
        (_, true) => args.input.clone(),
        (Some(output), false) => {
            refuse_overwrite(output, args.force)?;
            output.clone()
        }
        (None, false) => return Err(CliError::Usage("pass --output FILE or --in-place".into())),
    };
    let mut keystore = open_keystore(global)?;
    let keyring = custodian_keyring(&keystore)?;

    let input =
        std::fs::File::open(&args.input).map_err(|e| CliError::io("open", &args.input, e))?;
    let size = input.metadata().map(|m| m.len()).unwrap_or(0);
    let progress = Progress::bytes(size);
    let reader = BufReader::with_capacity(1 << 16, input);

    if args.dry_run {
        let summary = rewrap_lines(&keyring, reader, std::io::sink(), &progress)?;
        report(&summary, "dry run: would rewrap");
        return Ok(exit_code(&summary));
    }
    let mut intent = announce(
        global,
        &keystore,
        Action::Rewrap,
        Operation {
            reason: Some(format!(
                "{} into {}",
                args.input.display(),
                target.display()
            )),
            ..Operation::default()
        },
    )?;
    let result = rewrite(args, &keyring, reader, &progress, &target);
    if let Ok(summary) = &result {
        intent.note(format!(
            "{}: {} records, {} data keys moved, {} already current",
            args.input.display(),
            summary.records,
            summary.rewrapped,
            summary.already_current
        ));
    }
    let summary = intent.finish(result, &mut keystore)?;
    report(&summary, "rewrapped");
    Ok(exit_code(&summary))
}

/// Rewraps `reader` into a temporary file beside `target`, renamed over it
/// only on success: an interrupted run leaves the input (and any old
/// output) as it was.
fn rewrite(
    args: &RewrapArgs,
    keyring: &Keyring,
    reader: impl BufRead,
    progress: &Progress,
    target: &Path,
) -> Result<Summary, CliError> {
    let dir = parent(target);
    let temp = tempfile::Builder::new()
        .prefix(".tierseal-rewrap-")
        .suffix(".tmp")
        .tempfile_in(&dir)
        .map_err(|e| CliError::io("create a temporary file in", &dir, e))?;
    let mut writer = BufWriter::with_capacity(1 << 16, temp.as_file());
    let summary = rewrap_lines(keyring, reader, &mut writer, progress)?;
    drop(writer);
    if summary.failed_lines > 0 {
        report(&summary, "rewrapped");
        return Err(CliError::Refused(format!(
            "{} lines failed; {} was left unchanged and nothing was written",
            summary.failed_lines,
            args.input.display()
        )));
    }
    temp.as_file()
        .sync_all()
        .map_err(|e| CliError::io("flush", temp.path(), e))?;
    temp.persist(target)
        .map_err(|e| CliError::io("replace", target, e.error))?;
    Ok(summary)
}

fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    }
}

fn exit_code(summary: &Summary) -> ExitCode {
    if summary.failed_lines == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn report(summary: &Summary, verb: &str) {
    for failure in &summary.failures {
        eprintln!("tierseal: line {}: {}", failure.line, failure.reason);
    }
    if summary.failed_lines > summary.failures.len() as u64 {
        eprintln!(
            "tierseal: ... and {} more failed lines",
            summary.failed_lines - summary.failures.len() as u64
        );
    }
    say(&format!(
        "{} records: {verb} {} data keys, {} already current, {} failed lines",
        summary.records, summary.rewrapped, summary.already_current, summary.failed_lines
    ));
    if summary.still_old.is_empty() {
        say("no data key references an old version");
    } else {
        for (version, count) in &summary.still_old {
            say(&format!("still under {version}: {count}"));
        }
    }
}
