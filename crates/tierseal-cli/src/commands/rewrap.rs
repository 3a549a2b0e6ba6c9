//! `tierseal rewrap`.

use std::io::{BufRead, BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use super::{Operation, announce, custodian_keyring, open_keystore, refuse_overwrite, say};
use crate::CliError;
use crate::cli::{DbArgs, GlobalArgs, RewrapArgs};
use crate::db::{DbSummary, RewrapOptions, Scope};
use crate::rewrap::{Progress, Summary, rewrap_lines};
use tierseal::Keyring;
use tierseal::audit::Action;

pub(super) fn run(global: &GlobalArgs, args: &RewrapArgs) -> Result<ExitCode, CliError> {
    if let Some(url) = &args.db.db {
        return run_db(global, args, url);
    }
    let Some(input_path) = args.input.as_ref() else {
        return Err(CliError::Usage("pass --input FILE or --db URL".into()));
    };
    let target: PathBuf = match (&args.output, args.in_place) {
        // Through a symbolic link to the file itself, which is replaced.
        (_, true) => {
            std::fs::canonicalize(input_path).map_err(|e| CliError::io("open", input_path, e))?
        }
        (Some(output), false) => {
            refuse_overwrite(output, args.force)?;
            output.clone()
        }
        (None, false) => return Err(CliError::Usage("pass --output FILE or --in-place".into())),
    };
    let mut keystore = open_keystore(global)?;
    let keyring = custodian_keyring(&keystore)?;

    let input = std::fs::File::open(input_path).map_err(|e| CliError::io("open", input_path, e))?;
    let input_meta = input
        .metadata()
        .map_err(|e| CliError::io("open", input_path, e))?;
    let progress = Progress::bytes(input_meta.len());
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
                input_path.display(),
                target.display()
            )),
            ..Operation::default()
        },
    )?;
    let result = rewrite(
        input_path,
        &keyring,
        reader,
        &progress,
        &target,
        &input_meta,
    );
    if let Ok(summary) = &result {
        intent.note(format!(
            "{}: {} records, {} data keys moved, {} already current",
            input_path.display(),
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
/// output) as it was, and its temporary file is removed by a later run.
fn rewrite(
    input_path: &Path,
    keyring: &Keyring,
    reader: impl BufRead + Send,
    progress: &Progress,
    target: &Path,
    input_meta: &std::fs::Metadata,
) -> Result<Summary, CliError> {
    let dir = parent(target);
    remove_stale_temporaries(&dir);
    let temp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .suffix(TEMP_SUFFIX)
        .tempfile_in(&dir)
        .map_err(|e| CliError::io("create a temporary file in", &dir, e))?;
    // Held while this run lives: it tells other runs the file is in use.
    temp.as_file()
        .lock()
        .map_err(|e| CliError::io("lock", temp.path(), e))?;
    let mut writer = BufWriter::with_capacity(1 << 16, temp.as_file());
    let summary = rewrap_lines(keyring, reader, &mut writer, progress)?;
    drop(writer);
    if summary.failed_lines > 0 {
        report(&summary, "rewrapped");
        return Err(CliError::Refused(format!(
            "{} lines failed; {} was left unchanged and nothing was written",
            summary.failed_lines,
            input_path.display()
        )));
    }
    // The replaced file keeps its mode and owner; a new output takes the
    // input's mode.
    match std::fs::metadata(target) {
        Ok(existing) => keep_metadata(temp.as_file(), &existing, target),
        Err(_) => keep_mode(temp.as_file(), input_meta, target),
    }
    temp.as_file()
        .sync_all()
        .map_err(|e| CliError::io("flush", temp.path(), e))?;
    temp.persist(target)
        .map_err(|e| CliError::io("replace", target, e.error))?;
    Ok(summary)
}

/// Names of rewrap's temporary files: the prefix, six random characters
/// (tempfile's default), the suffix.
const TEMP_PREFIX: &str = ".tierseal-rewrap-";
const TEMP_SUFFIX: &str = ".tmp";

/// A temporary file younger than this may belong to a run that has
/// created it and not yet locked it: it is left alone.
const STALE_AFTER: Duration = Duration::from_secs(60);

/// Removes the temporary files that killed runs left in `dir`: only files
/// named as rewrap names them, not locked by a live run, and not modified
/// for a minute. Failures are reported and do not stop the run.
fn remove_stale_temporaries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let (mut removed, mut bytes) = (0u64, 0u64);
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name();
        let Some(random) = name
            .to_str()
            .and_then(|n| n.strip_prefix(TEMP_PREFIX))
            .and_then(|n| n.strip_suffix(TEMP_SUFFIX))
        else {
            continue;
        };
        if random.len() != 6 || !random.bytes().all(|b| b.is_ascii_alphanumeric()) {
            continue;
        }
        let path = entry.path();
        match remove_if_stale(&path) {
            Ok(Some(size)) => {
                removed += 1;
                bytes += size;
            }
            Ok(None) => {}
            // Another run removed it first.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => eprintln!(
                "tierseal: warning: could not remove the stale {}: {e}",
                path.display()
            ),
        }
    }
    if removed > 0 {
        eprintln!(
            "tierseal: removed {removed} temporary files ({bytes} bytes) left by interrupted rewraps in {}",
            dir.display()
        );
    }
}

/// Removes `path` if it is a regular file that no live run holds; its
/// size when it was removed.
fn remove_if_stale(path: &Path) -> std::io::Result<Option<u64>> {
    let meta = std::fs::symlink_metadata(path)?;
    let old = meta
        .modified()?
        .elapsed()
        .is_ok_and(|age| age >= STALE_AFTER);
    if !meta.file_type().is_file() || !old {
        return Ok(None);
    }
    let file = std::fs::File::options().write(true).open(path)?;
    match file.try_lock() {
        Ok(()) => {
            std::fs::remove_file(path)?;
            Ok(Some(meta.len()))
        }
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

/// Gives `file` the mode and, where the system allows, the owner of
/// `like` (the file it replaces).
fn keep_metadata(file: &std::fs::File, like: &std::fs::Metadata, target: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        // Owner first: changing it may clear set-id bits the mode restores.
        if let Err(e) = std::os::unix::fs::fchown(file, Some(like.uid()), Some(like.gid())) {
            let group = std::os::unix::fs::fchown(file, None, Some(like.gid())).is_ok();
            eprintln!(
                "tierseal: warning: {} is now owned by the user running rewrap{} \
                 (could not keep uid {}: {e})",
                target.display(),
                if group { ", its group kept" } else { "" },
                like.uid(),
            );
        }
    }
    keep_mode(file, like, target);
}

/// Gives `file` the permissions of `like`.
fn keep_mode(file: &std::fs::File, like: &std::fs::Metadata, target: &Path) {
    if let Err(e) = file.set_permissions(like.permissions()) {
        eprintln!(
            "tierseal: warning: could not keep the mode of {}: {e}",
            target.display()
        );
    }
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

/// `rewrap --db URL`: in place, batch by batch, resumable.
fn run_db(global: &GlobalArgs, args: &RewrapArgs, url: &str) -> Result<ExitCode, CliError> {
    // A URL that does not parse is refused before the passphrase is asked.
    crate::db::parse_url(url)?;
    let mut keystore = open_keystore(global)?;
    let keyring = custodian_keyring(&keystore)?;
    let lock_wait = Duration::from_secs(global.lock_wait);
    let mut db = crate::db::open(url, lock_wait, args.dry_run)?;
    let options = RewrapOptions {
        scope: scope(&args.db),
        max_batches: args.max_batches,
        restart: args.restart,
        dry_run: args.dry_run,
    };
    if args.dry_run {
        let summary = crate::db::rewrap(db.as_mut(), &keyring, &options)?;
        report_db(&summary, "dry run: would rewrap");
        return Ok(db_exit_code(&summary));
    }
    let mut intent = announce(
        global,
        &keystore,
        Action::Rewrap,
        Operation {
            reason: Some(format!("database {}", db.name())),
            ..Operation::default()
        },
    )?;
    let result = crate::db::rewrap(db.as_mut(), &keyring, &options);
    match &result {
        Ok(summary) => intent.note(format!(
            "database {}: {} rows, {} data keys moved, {} already current, {} failed rows{}",
            db.name(),
            summary.rows,
            summary.rewrapped,
            summary.already_current,
            summary.failed,
            if summary.complete {
                ""
            } else {
                "; stopped by --max-batches"
            }
        )),
        Err(error) => intent.note(format!("database {}: {error}", db.name())),
    }
    let summary = intent.finish(result, &mut keystore)?;
    report_db(&summary, "rewrapped");
    Ok(db_exit_code(&summary))
}

/// The database scope of `--table`, `--column`, `--schema`, `--batch-size`.
pub(super) fn scope(args: &DbArgs) -> Scope {
    Scope {
        tables: args.tables.clone(),
        columns: args.columns.clone(),
        schema: args.schema.clone(),
        batch_size: args.batch_size as usize,
    }
}

fn db_exit_code(summary: &DbSummary) -> ExitCode {
    if summary.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn report_db(summary: &DbSummary, verb: &str) {
    for failure in &summary.failures {
        eprintln!("tierseal: {}: {}", failure.place, failure.reason);
    }
    let listed = summary.failures.len() as u64;
    if summary.failed > listed {
        eprintln!(
            "tierseal: ... and {} more failed rows (left unchanged; those of an earlier, \
             interrupted run were reported by it)",
            summary.failed - listed
        );
    }
    say(&format!(
        "{} tables, {} rows: {verb} {} data keys, {} already current, {} rows written, \
         {} failed rows",
        summary.tables,
        summary.rows,
        summary.rewrapped,
        summary.already_current,
        summary.updated,
        summary.failed
    ));
    if summary.resumed > 0 {
        say(&format!(
            "resumed {} tables where an earlier run stopped (counts include it)",
            summary.resumed
        ));
    }
    say(&format!(
        "{} batches committed by this run",
        summary.batches_this_run
    ));
    if !summary.complete {
        say("stopped by --max-batches: run the same command again to continue");
    } else if summary.still_old.is_empty() {
        say("no data key references an old version");
    } else {
        for (version, count) in &summary.still_old {
            say(&format!("still under {version}: {count}"));
        }
    }
}
