//! Built-in masks: what a withheld field may show.
//!
//! A mask is computed from the plaintext when the record is sealed and
//! sealed beside the value at tier `internal`, so choose masks that are safe
//! to show to everyone who holds `internal`. (Records sealed by format
//! version 1 stored masks in clear.)

use std::fmt::Display;

/// The last four characters: `****1111`. Values shorter than eight
/// characters are masked entirely, since four characters would reveal too
/// much of them.
///
/// ```
/// assert_eq!(tierseal::mask::last4(&"4111111111111111"), "****1111");
/// assert_eq!(tierseal::mask::last4(&"1234"), "****");
/// ```
pub fn last4(value: &impl Display) -> String {
    let chars: Vec<char> = value.to_string().chars().collect();
    if chars.len() < 8 {
        return "****".into();
    }
    let tail: String = chars.iter().skip(chars.len() - 4).collect();
    format!("****{tail}")
}

/// PCI DSS truncation: the first six (the BIN) and the last four
/// characters of a value of at least 16 characters; only the last four
/// for 10 to 15; nothing for shorter values.
///
/// ```
/// assert_eq!(tierseal::mask::first6last4(&"4111111111111111"), "411111******1111");
/// ```
pub fn first6last4(value: &impl Display) -> String {
    let chars: Vec<char> = value.to_string().chars().collect();
    match chars.len() {
        n if n >= 16 => {
            let head: String = chars.iter().take(6).collect();
            let tail: String = chars.iter().skip(n - 4).collect();
            format!("{head}******{tail}")
        }
        n if n >= 10 => last4(value),
        _ => "****".into(),
    }
}

/// The first character of the local part and the domain of an e-mail
/// address: `j***@example.com`.
///
/// ```
/// assert_eq!(tierseal::mask::email(&"jane.doe@example.com"), "j***@example.com");
/// assert_eq!(tierseal::mask::email(&"not an address"), "***");
/// ```
pub fn email(value: &impl Display) -> String {
    let text = value.to_string();
    match text.split_once('@') {
        Some((local, domain)) if !local.is_empty() && !domain.is_empty() => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        _ => "***".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_never_show_short_values() {
        assert_eq!(last4(&"1234567"), "****");
        assert_eq!(first6last4(&"123456789"), "****");
        assert_eq!(first6last4(&"1234567890123"), "****0123");
        assert_eq!(email(&"@example.com"), "***");
    }

    #[test]
    fn masks_work_on_numbers_and_unicode() {
        assert_eq!(last4(&12_345_678_u64), "****5678");
        assert_eq!(last4(&"ééééééé€€€€"), "****€€€€");
    }
}
