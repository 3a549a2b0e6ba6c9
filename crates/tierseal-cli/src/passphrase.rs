//! Getting passphrases without ever taking them as arguments.

use std::io::{IsTerminal as _, Read as _};
use std::path::Path;

use tierseal::Passphrase;
use zeroize::Zeroizing;

use crate::CliError;

/// Where a passphrase comes from, in order of preference.
pub(crate) struct Source<'a> {
    /// `--passphrase-file` (or `--new-passphrase-file`).
    pub(crate) file: Option<&'a Path>,
    /// The environment variable to read.
    pub(crate) env: &'static str,
    /// The prompt for a terminal.
    pub(crate) prompt: &'static str,
    /// Ask twice on a terminal (new passphrases).
    pub(crate) confirm: bool,
}

/// Reads a passphrase from the file (its first line), the environment or
/// the terminal, in that order.
pub(crate) fn read(source: &Source<'_>) -> Result<Passphrase, CliError> {
    let text = if let Some(file) = source.file {
        first_line(file)?
    } else if let Some(value) = env_secret(source.env)? {
        value
    } else if std::io::stdin().is_terminal() {
        prompt(source)?
    } else {
        return Err(CliError::Usage(format!(
            "no passphrase: use --passphrase-file FILE or set {} (there is no terminal to prompt on)",
            source.env
        )));
    };
    if text.is_empty() {
        return Err(CliError::Usage("the passphrase is empty".into()));
    }
    Ok(Passphrase::new(text))
}

/// The longest passphrase file line read: far beyond any passphrase, and
/// a bound on what a wrong path (a device, a huge file) makes us read.
const MAX_LINE: u64 = 64 * 1024;

/// The first line of a passphrase file, without its line ending.
fn first_line(file: &Path) -> Result<String, CliError> {
    use std::io::BufRead as _;
    let opened =
        std::fs::File::open(file).map_err(|e| CliError::io("read passphrase file", file, e))?;
    let mut line = Zeroizing::new(Vec::new());
    std::io::BufReader::new(opened)
        .take(MAX_LINE + 1)
        .read_until(b'\n', &mut line)
        .map_err(|e| CliError::io("read passphrase file", file, e))?;
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    } else if line.len() as u64 > MAX_LINE {
        return Err(CliError::Usage(format!(
            "passphrase file {}: its first line is longer than {MAX_LINE} bytes",
            file.display()
        )));
    }
    // Taken out of `line`, which is zeroized when dropped.
    match String::from_utf8(std::mem::take(&mut *line)) {
        Ok(text) => Ok(text),
        Err(e) => {
            drop(Zeroizing::new(e.into_bytes()));
            Err(CliError::Usage(format!(
                "passphrase file {}: its first line is not UTF-8",
                file.display()
            )))
        }
    }
}

/// Reads one custodian's passphrase: from `file` (its first line), else
/// from the terminal with `prompt` (twice when `confirm`); `what` names it
/// when neither is available.
pub(crate) fn read_for(
    file: Option<&Path>,
    prompt_text: &str,
    confirm: bool,
    what: &str,
) -> Result<Passphrase, CliError> {
    let text = if let Some(file) = file {
        first_line(file)?
    } else if std::io::stdin().is_terminal() {
        ask_terminal(prompt_text, confirm)?
    } else {
        return Err(CliError::Usage(format!(
            "no passphrase for {what}: give a passphrase file for it (there is no terminal to prompt on)"
        )));
    };
    if text.is_empty() {
        return Err(CliError::Usage(format!(
            "the passphrase for {what} is empty"
        )));
    }
    Ok(Passphrase::new(text))
}

/// The PKCS#11 user PIN: from `TIERSEAL_PKCS11_PIN`, else asked on the
/// terminal. Never taken as an argument, never printed.
pub(crate) fn read_pin(token: &str) -> Result<secrecy::SecretString, CliError> {
    const ENV: &str = "TIERSEAL_PKCS11_PIN";
    let text = if let Some(value) = env_secret(ENV)? {
        value
    } else if std::io::stdin().is_terminal() {
        ask_terminal(&format!("user PIN of PKCS#11 token `{token}`: "), false)?
    } else {
        return Err(CliError::Usage(format!(
            "no PKCS#11 PIN for token `{token}`: set {ENV} (there is no terminal to prompt on)"
        )));
    };
    if text.is_empty() {
        return Err(CliError::Usage("the PKCS#11 PIN is empty".into()));
    }
    Ok(secrecy::SecretString::from(text))
}

/// A secret from the environment variable `name`, if it is set; a value
/// that is not UTF-8 is wiped before the error is returned.
fn env_secret(name: &str) -> Result<Option<String>, CliError> {
    match std::env::var_os(name).map(std::ffi::OsString::into_string) {
        None => Ok(None),
        Some(Ok(text)) => Ok(Some(text)),
        Some(Err(raw)) => {
            drop(Zeroizing::new(raw.into_encoded_bytes()));
            Err(CliError::Usage(format!("{name} is not valid UTF-8")))
        }
    }
}

fn prompt(source: &Source<'_>) -> Result<String, CliError> {
    ask_terminal(source.prompt, source.confirm)
}

fn ask_terminal(prompt_text: &str, confirm: bool) -> Result<String, CliError> {
    let ask = |prompt: &str| {
        rpassword::prompt_password(prompt)
            .map_err(|e| CliError::io("read passphrase from", "the terminal", e))
    };
    // Both answers are wiped when dropped, the first too when they differ.
    let mut first = Zeroizing::new(ask(prompt_text)?);
    if confirm {
        let second = Zeroizing::new(ask("repeat it: ")?);
        if *first != *second {
            return Err(CliError::Usage(
                "the passphrases differ; nothing was changed".into(),
            ));
        }
    }
    Ok(std::mem::take(&mut *first))
}
