//! `tierseal report`: what an auditor asks for, in one document.
//!
//! Everything here is gathered with the functions the other commands use
//! (`keys list`, `grant list`, `lint`/`inventory`, `audit verify`); this
//! module only counts and prints. The JSON form is the schema
//! `tierseal-report/1` documented in docs/COMPLIANCE.md: fields are only
//! ever added to it, never renamed or removed, without a new schema name.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tierseal::audit::{self, Action, AuditEvent, FieldOutcome, Outcome, VerifyProblem};
use tierseal::{KeyState, Keystore};

use super::{audit_log, open_keystore, say};
use crate::CliError;
use crate::cli::{GlobalArgs, ReportArgs, ReportFormat};
use crate::error::ReportError;
use crate::text::{age, utc};

/// The schema name of the JSON form.
pub(crate) const SCHEMA: &str = "tierseal-report/1";

pub(super) fn run(global: &GlobalArgs, args: &ReportArgs) -> Result<ExitCode, CliError> {
    let now = SystemTime::now();
    let period = Period::from_args(args, now)?;
    if !args.checkpoints.is_empty() && args.logs.len() != 1 {
        return Err(ReportError::CheckpointWithoutLog {
            logs: args.logs.len(),
        }
        .into());
    }
    if let Some(missing) = args.logs.iter().find(|log| !log.exists()) {
        return Err(ReportError::MissingLog {
            path: missing.clone(),
        }
        .into());
    }
    let inventory = if args.sources.is_empty() {
        None
    } else {
        Some(inventory(&args.sources)?)
    };
    let keystore = open_keystore(global)?;
    let within = args.within.map_or(0, |w| w.as_secs());
    let state = keystore_state(&keystore, unix(now), within);
    let key = keystore.audit_key()?;
    let own = audit_log(global);
    let mut logs = vec![(own.clone(), LogRole::Keystore, Vec::new())];
    for log in &args.logs {
        logs.push((log.clone(), LogRole::Service, args.checkpoints.clone()));
    }
    let mut with_checkpoints = Vec::new();
    for (path, role, files) in logs {
        let checkpoints = super::audit::checkpoints(global, &keystore, &key, &path, &files)?;
        with_checkpoints.push((path, role, checkpoints));
    }
    // Verifying long logs must not hold other custodians off the keystore.
    drop(keystore);
    let audits: Vec<LogSection> = with_checkpoints
        .iter()
        .map(|(path, role, checkpoints)| audit_section(path, *role, &key, checkpoints, &period))
        .collect();
    let report = Report {
        schema: SCHEMA,
        generated_at: audit::utc_timestamp(now),
        period: PeriodOut {
            from: period.from.map(audit::utc_timestamp),
            to: period.to.map(audit::utc_timestamp),
        },
        within: args.within.map(|w| age(w.as_secs())),
        keystore: state,
        inventory,
        audit: audits,
    };
    match args.format {
        ReportFormat::Json => {
            say(&serde_json::to_string_pretty(&report).map_err(|e| {
                CliError::Refused(format!("could not write the report as JSON: {e}"))
            })?);
        }
        ReportFormat::Markdown => say(markdown(&report).trim_end()),
    }
    if let Some(failed) = report.audit.iter().find_map(|log| {
        log.verification
            .failure
            .as_ref()
            .map(|failure| (log, failure))
    }) {
        let (log, failure) = failed;
        return Err(ReportError::AuditFailed {
            path: PathBuf::from(&log.log),
            line: failure.line,
            detail: failure.detail.clone(),
        }
        .into());
    }
    Ok(ExitCode::SUCCESS)
}

/// The whole report (JSON schema `tierseal-report/1`).
#[derive(Debug, Serialize)]
struct Report {
    /// Always [`SCHEMA`].
    schema: &'static str,
    /// When the report was made (RFC 3339 UTC).
    generated_at: String,
    /// The period access counts cover.
    period: PeriodOut,
    /// `--within`, as given (`null` without it).
    within: Option<String>,
    /// The keystore's state.
    keystore: KeystoreState,
    /// The classification inventory (`null` without `--source`).
    inventory: Option<Inventory>,
    /// One entry per audit log: the keystore's own first, then each `--log`.
    audit: Vec<LogSection>,
}

// ---------------------------------------------------------------- period

/// The period access counts cover: `[from, to)`.
#[derive(Debug, Default)]
struct Period {
    from: Option<SystemTime>,
    to: Option<SystemTime>,
}

#[derive(Debug, Serialize)]
struct PeriodOut {
    /// Inclusive lower bound, or `null` for the log's beginning.
    from: Option<String>,
    /// Exclusive upper bound, or `null` for its end.
    to: Option<String>,
}

impl Period {
    fn from_args(args: &ReportArgs, now: SystemTime) -> Result<Period, ReportError> {
        let period = Period {
            from: match (&args.since, &args.from) {
                (Some(since), _) => Some(parse_time(since, Some(now), "--since")?),
                (None, Some(from)) => Some(parse_time(from, None, "--from")?),
                (None, None) => None,
            },
            to: args
                .to
                .as_deref()
                .map(|to| parse_time(to, None, "--to"))
                .transpose()?,
        };
        if let (Some(from), Some(to)) = (period.from, period.to)
            && from >= to
        {
            return Err(ReportError::BadPeriod {
                reason: format!(
                    "--from {} is not before --to {}: the period is empty",
                    audit::utc_timestamp(from),
                    audit::utc_timestamp(to)
                ),
            });
        }
        Ok(period)
    }

    fn admits(&self, event: &AuditEvent) -> bool {
        let time = event.time.system_time();
        self.from.is_none_or(|from| time >= from) && self.to.is_none_or(|to| time < to)
    }
}

/// A point in time: a date (midnight UTC), an RFC 3339 UTC time, or, when
/// `now` is given, a duration before it.
fn parse_time(text: &str, now: Option<SystemTime>, flag: &str) -> Result<SystemTime, ReportError> {
    let text = text.trim();
    if let Some(now) = now
        && let Ok(ago) = crate::text::parse_duration(text)
    {
        return Ok(now.checked_sub(ago).unwrap_or(UNIX_EPOCH));
    }
    let is_date = text.len() == 10 && audit::parse_utc_timestamp(text).is_some();
    let parsed = if is_date {
        audit::parse_utc_timestamp(text)
    } else {
        humantime::parse_rfc3339_weak(text).ok()
    };
    parsed.ok_or_else(|| ReportError::BadPeriod {
        reason: format!(
            "{flag} `{}`: use a date (2026-11-01), an RFC 3339 UTC time \
             (2026-11-01T08:00:00Z){}",
            text.escape_debug(),
            if now.is_some() {
                " or a duration ago (24h, 30d)"
            } else {
                ""
            }
        ),
    })
}

// -------------------------------------------------------------- keystore

/// The keystore's state: no key bytes, only public check values.
#[derive(Debug, Serialize)]
struct KeystoreState {
    /// The keystore file.
    path: String,
    /// Who must take part to unlock it.
    custody: Custody,
    /// Every tier with its versions.
    tiers: Vec<TierState>,
    /// Every issued grant, expired ones marked.
    grants: Vec<GrantState>,
}

/// How the keystore's root key is held (PCI DSS 3.6.1.2, 3.7.6).
#[derive(Debug, Serialize)]
struct Custody {
    /// `passphrase` (one custodian), `shares` (M-of-N custodians), or the
    /// key-encryption provider (`openbao`, `pkcs11`).
    kind: &'static str,
    /// For people: `passphrase (single custodian)`, or `M-of-N shares`.
    description: String,
    /// M, for shares.
    threshold: Option<u8>,
    /// N, for shares.
    holders: Option<u8>,
    /// The share holders' names, share 1 first (empty for a passphrase).
    holder_names: Vec<String>,
    /// The operations the keystore's policy reserves to M custodians.
    dual_control: Vec<String>,
}

/// The custody of `keystore`'s root key: one passphrase, or M-of-N
/// custodian shares with the dual-control policy.
fn share_policy(keystore: &Keystore) -> Custody {
    let provider = keystore.provider_kind();
    match keystore.share_set() {
        None if provider != tierseal::kek::ProviderKind::Passphrase => Custody {
            kind: provider.as_str(),
            description: format!(
                "key-encryption provider {provider} (its access policy decides who unwraps)"
            ),
            threshold: None,
            holders: None,
            holder_names: Vec::new(),
            dual_control: Vec::new(),
        },
        None => Custody {
            kind: "passphrase",
            description: "passphrase (single custodian)".into(),
            threshold: None,
            holders: None,
            holder_names: Vec::new(),
            dual_control: Vec::new(),
        },
        Some(set) => {
            let holders = u8::try_from(set.holders.len()).unwrap_or(u8::MAX);
            Custody {
                kind: "shares",
                description: format!(
                    "{}-of-{holders} custodian shares (generation {})",
                    set.threshold, set.generation
                ),
                threshold: Some(set.threshold),
                holders: Some(holders),
                holder_names: set.holders,
                dual_control: set
                    .dual_control
                    .iter()
                    .map(|op| op.as_str().to_owned())
                    .collect(),
            }
        }
    }
}

#[derive(Debug, Serialize)]
struct TierState {
    tier: String,
    cryptoperiod_days: u32,
    /// The sealing version (`null` when every version is retired).
    primary: Option<u32>,
    /// Whether the primary version is past the cryptoperiod.
    overdue: bool,
    /// Whether it is, or will be within `--within`.
    rotation_due: bool,
    versions: Vec<VersionState>,
}

#[derive(Debug, Serialize)]
struct VersionState {
    version: u32,
    /// `active`, `decrypt-only` or `retired`.
    state: KeyState,
    created_at: String,
    /// Whole days since creation.
    age_days: u64,
    retired_at: Option<String>,
    /// The primary version, past the cryptoperiod now.
    overdue: bool,
    /// The primary version, past it now or within `--within`.
    rotation_due: bool,
    /// The key's public fingerprint.
    check_value: String,
}

#[derive(Debug, Serialize)]
struct GrantState {
    id: String,
    principal: String,
    issued_at: String,
    expires_at: String,
    /// `outstanding` or `expired`.
    status: &'static str,
    tiers: Vec<GrantTier>,
    /// The tiers whose blind-index key versions the grant carries.
    search: Vec<GrantTier>,
}

#[derive(Debug, Serialize)]
struct GrantTier {
    tier: String,
    versions: Vec<u32>,
}

fn grant_tiers(tiers: &[tierseal::IssuedTier]) -> Vec<GrantTier> {
    tiers
        .iter()
        .map(|tier| GrantTier {
            tier: tier.tier.to_string(),
            versions: tier.versions.clone(),
        })
        .collect()
}

/// `tier v1,v2; tier v3`, or `-` for none.
fn grant_tiers_text(tiers: &[GrantTier]) -> String {
    if tiers.is_empty() {
        return "-".into();
    }
    tiers
        .iter()
        .map(|t| {
            let versions: Vec<String> = t.versions.iter().map(|v| format!("v{v}")).collect();
            format!("{} {}", t.tier, versions.join(","))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn keystore_state(keystore: &Keystore, now: u64, within: u64) -> KeystoreState {
    let mut tiers: Vec<TierState> = Vec::new();
    for info in keystore.key_versions() {
        let tier = info.tier.to_string();
        if tiers.last().is_none_or(|last| last.tier != tier) {
            tiers.push(TierState {
                tier: tier.clone(),
                cryptoperiod_days: info.cryptoperiod_days,
                primary: None,
                overdue: false,
                rotation_due: false,
                versions: Vec::new(),
            });
        }
        let Some(state) = tiers.last_mut() else {
            continue;
        };
        let overdue = info.is_overdue(now);
        let rotation_due = info.is_overdue(now.saturating_add(within));
        if info.state == KeyState::Active {
            state.primary = Some(info.version);
        }
        state.overdue |= overdue;
        state.rotation_due |= rotation_due;
        state.versions.push(VersionState {
            version: info.version,
            state: info.state,
            created_at: utc(info.created_at),
            age_days: now.saturating_sub(info.created_at) / 86_400,
            retired_at: info.retired_at.map(utc),
            overdue,
            rotation_due,
            check_value: info.check_value.clone(),
        });
    }
    let grants = keystore
        .issued_grants()
        .iter()
        .map(|grant| GrantState {
            id: grant.id.to_string(),
            principal: grant.principal.clone(),
            issued_at: utc(grant.issued_at),
            expires_at: utc(grant.expires_at),
            status: if grant.is_expired(now) {
                "expired"
            } else {
                "outstanding"
            },
            tiers: grant_tiers(&grant.tiers),
            search: grant_tiers(&grant.index),
        })
        .collect();
    KeystoreState {
        path: keystore.path().display().to_string(),
        custody: share_policy(keystore),
        tiers,
        grants,
    }
}

// ------------------------------------------------------------- inventory

/// The classification inventory and lint findings of the `--source` trees.
#[derive(Debug, Serialize)]
struct Inventory {
    sources: Vec<String>,
    /// Rust files checked.
    files: usize,
    /// Classified fields.
    fields: usize,
    /// Classified fields per tier (level and compartment).
    by_tier: Vec<TierCount>,
    /// Lint findings that fail the run.
    errors: usize,
    /// Lint findings that do not (money amounts by default).
    warnings: usize,
    /// Findings per lint rule.
    by_rule: Vec<RuleCount>,
    /// Every finding: where, which rule (no source text).
    findings: Vec<FindingOut>,
}

#[derive(Debug, Serialize)]
struct TierCount {
    /// `public`, `internal`, `confidential`, `restricted`, `nested`, or
    /// `level/compartment`.
    tier: String,
    fields: usize,
    masked: usize,
    transient: usize,
}

#[derive(Debug, Serialize)]
struct RuleCount {
    rule: &'static str,
    severity: &'static str,
    count: usize,
}

#[derive(Debug, Serialize)]
struct FindingOut {
    rule: &'static str,
    severity: &'static str,
    category: Option<&'static str>,
    item: String,
    file: String,
    line: usize,
}

fn inventory(sources: &[PathBuf]) -> Result<Inventory, CliError> {
    let lint = tierseal_lint::lint_paths_with(sources, None, tierseal_lint::LockMode::Check)?;
    let mut by_tier: BTreeMap<String, TierCount> = BTreeMap::new();
    for entry in &lint.inventory {
        let tier = match &entry.compartment {
            Some(compartment) => format!("{}/{compartment}", entry.level),
            None => entry.level.clone(),
        };
        let count = by_tier.entry(tier.clone()).or_insert(TierCount {
            tier,
            fields: 0,
            masked: 0,
            transient: 0,
        });
        count.fields += 1;
        count.masked += usize::from(entry.mask.is_some());
        count.transient += usize::from(entry.transient);
    }
    let mut by_rule: BTreeMap<(&'static str, &'static str), usize> = BTreeMap::new();
    for finding in &lint.findings {
        *by_rule
            .entry((finding.rule, finding.severity.as_str()))
            .or_default() += 1;
    }
    let errors = lint.findings.iter().filter(|f| f.is_error()).count();
    Ok(Inventory {
        sources: sources.iter().map(|p| p.display().to_string()).collect(),
        files: lint.files,
        fields: lint.inventory.len(),
        by_tier: by_tier.into_values().collect(),
        errors,
        warnings: lint.findings.len() - errors,
        by_rule: by_rule
            .into_iter()
            .map(|((rule, severity), count)| RuleCount {
                rule,
                severity,
                count,
            })
            .collect(),
        findings: lint
            .findings
            .iter()
            .map(|finding| FindingOut {
                rule: finding.rule,
                severity: finding.severity.as_str(),
                category: finding.category.map(|c| c.as_str()),
                item: finding.item.clone(),
                file: finding.location.file.display().to_string(),
                line: finding.location.line,
            })
            .collect(),
    })
}

// ----------------------------------------------------------------- audit

#[derive(Clone, Copy, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
enum LogRole {
    /// The keystore's log of key operations.
    Keystore,
    /// A service's log of opens, given with `--log`.
    Service,
}

/// One audit log: its verification and what it counts over the period.
#[derive(Debug, Serialize)]
struct LogSection {
    log: String,
    role: LogRole,
    verification: Verification,
    /// Entries in the period that were counted (only entries that
    /// verified are counted).
    counted_entries: u64,
    /// Opens per principal, tier and purpose.
    access: Vec<AccessCount>,
    /// Other actions (key operations, seals, rewraps) per principal,
    /// action and outcome.
    operations: Vec<OperationCount>,
}

#[derive(Debug, Serialize)]
struct Verification {
    /// Every entry's MAC and the chain verified, checkpoints matched, and
    /// no entry records lost entries.
    verified: bool,
    entries: Option<u64>,
    /// The last entry a checkpoint covers (`null`: none given).
    checkpoint_covers: Option<u64>,
    /// Entries after it, whose removal could not be detected.
    uncovered: Option<u64>,
    /// Key operations announced with no outcome (interrupted).
    unfinished: Vec<u64>,
    /// Entries recording damage to the log (`log-repair`, `log-loss`).
    incidents: Vec<Incident>,
    /// Why it did not verify, and where.
    failure: Option<Failure>,
}

#[derive(Debug, Serialize)]
struct Incident {
    seq: u64,
    action: &'static str,
    reason: Option<String>,
}

#[derive(Debug, Serialize)]
struct Failure {
    /// The first bad line (0: the log as a whole).
    line: u64,
    seq: Option<u64>,
    /// `bad-mac`, `sequence-break`, `chain-break`, `truncated`,
    /// `malformed`, `unreadable`, `missing`, `empty`, `tail-removed`,
    /// `checkpoint-mismatch`, `unknown-intent` or `log-loss`.
    problem: &'static str,
    detail: String,
}

/// Record opens by one principal at one tier for one purpose: each open
/// counts once per tier it touched.
#[derive(Debug, Default, Serialize)]
struct AccessCount {
    principal: String,
    /// The tier (`null` for a denied open: it reveals nothing, and the log
    /// does not say which tier asked for the purpose).
    tier: Option<String>,
    purpose: Option<String>,
    /// Opens that revealed fields of the tier.
    opened: u64,
    /// Opens that withheld fields of the tier (not granted).
    withheld: u64,
    /// Opens whose fields of the tier failed to decrypt.
    failed: u64,
    /// Opens refused before decryption (no or invalid purpose).
    denied: u64,
}

#[derive(Debug, Serialize)]
struct OperationCount {
    principal: String,
    action: &'static str,
    outcome: &'static str,
    count: u64,
}

fn problem_name(problem: VerifyProblem) -> &'static str {
    match problem {
        VerifyProblem::BadMac => "bad-mac",
        VerifyProblem::SequenceBreak => "sequence-break",
        VerifyProblem::ChainBreak => "chain-break",
        VerifyProblem::Truncated => "truncated",
        VerifyProblem::Malformed => "malformed",
        VerifyProblem::Unreadable => "unreadable",
        VerifyProblem::Missing => "missing",
        VerifyProblem::Empty => "empty",
        VerifyProblem::TailRemoved => "tail-removed",
        VerifyProblem::CheckpointMismatch => "checkpoint-mismatch",
        VerifyProblem::UnknownIntent => "unknown-intent",
        _ => "other",
    }
}

fn audit_section(
    path: &Path,
    role: LogRole,
    key: &audit::AuditKey,
    checkpoints: &[audit::Checkpoint],
    period: &Period,
) -> LogSection {
    let (verification, verified_lines) = match audit::verify_with(path, key, checkpoints) {
        Ok(report) => {
            let incidents: Vec<Incident> = report
                .incidents
                .iter()
                .map(|(seq, event)| Incident {
                    seq: *seq,
                    action: event.action.as_str(),
                    reason: event.reason.clone(),
                })
                .collect();
            let lost = report
                .incidents
                .iter()
                .find(|(_, event)| event.action == Action::LogLoss);
            let failure = lost.map(|(seq, _)| Failure {
                line: *seq,
                seq: Some(*seq),
                problem: "log-loss",
                detail: format!(
                    "entry {seq} records that entries were lost from this log: it is not complete"
                ),
            });
            let verification = Verification {
                verified: failure.is_none(),
                entries: Some(report.entries),
                checkpoint_covers: report.covered_by.as_ref().map(|c| c.head.seq),
                uncovered: Some(report.uncovered()),
                unfinished: report.unfinished.iter().map(|u| u.seq).collect(),
                incidents,
                failure,
            };
            (verification, u64::MAX)
        }
        Err(error) => {
            let verification = Verification {
                verified: false,
                entries: None,
                checkpoint_covers: None,
                uncovered: None,
                unfinished: Vec::new(),
                incidents: Vec::new(),
                failure: Some(Failure {
                    line: error.line,
                    seq: error.seq,
                    problem: problem_name(error.problem),
                    detail: error.to_string(),
                }),
            };
            // Lines before the first bad one verified; nothing after it did.
            (verification, error.line.saturating_sub(1))
        }
    };
    let (events, _) = audit::read_events_until_error(path);
    let mut access: BTreeMap<(String, Option<String>, Option<String>), AccessCount> =
        BTreeMap::new();
    let mut operations: BTreeMap<(String, &'static str, &'static str), u64> = BTreeMap::new();
    let mut counted = 0;
    for (index, (_, event)) in events.iter().enumerate() {
        if index as u64 >= verified_lines {
            break;
        }
        if !period.admits(event) {
            continue;
        }
        counted += 1;
        if event.action == Action::Open {
            count_open(event, &mut access);
        } else {
            *operations
                .entry((
                    event.principal.clone(),
                    event.action.as_str(),
                    event.outcome.as_str(),
                ))
                .or_default() += 1;
        }
    }
    LogSection {
        log: path.display().to_string(),
        role,
        verification,
        counted_entries: counted,
        access: access.into_values().collect(),
        operations: operations
            .into_iter()
            .map(|((principal, action, outcome), count)| OperationCount {
                principal,
                action,
                outcome,
                count,
            })
            .collect(),
    }
}

/// Counts one open event under each tier it touched.
fn count_open(
    event: &AuditEvent,
    access: &mut BTreeMap<(String, Option<String>, Option<String>), AccessCount>,
) {
    let mut tiers: BTreeMap<String, (bool, bool, bool)> = BTreeMap::new();
    for field in &event.fields {
        let seen = tiers.entry(field.tier.to_string()).or_default();
        match field.outcome {
            FieldOutcome::Revealed => seen.0 = true,
            FieldOutcome::Withheld => seen.1 = true,
            FieldOutcome::Failed => seen.2 = true,
            FieldOutcome::Sealed => {}
        }
    }
    let denied = event.outcome == Outcome::Denied;
    if denied {
        // A denied open reveals nothing, whatever fields it noted before
        // the refusal, and the log does not say which tier asked for the
        // purpose: it counts once, under no tier.
        tiers.clear();
    }
    if tiers.is_empty() {
        tiers.insert(String::new(), (false, false, false));
    }
    for (tier, (revealed, withheld, failed)) in tiers {
        let tier = (!tier.is_empty()).then_some(tier);
        let key = (event.principal.clone(), tier.clone(), event.purpose.clone());
        let count = access.entry(key).or_insert_with(|| AccessCount {
            principal: event.principal.clone(),
            tier,
            purpose: event.purpose.clone(),
            ..AccessCount::default()
        });
        count.opened += u64::from(revealed);
        count.withheld += u64::from(withheld);
        count.failed += u64::from(failed);
        count.denied += u64::from(denied);
    }
}

// -------------------------------------------------------------- markdown

/// A Markdown table cell: pipes escaped, one line, control characters
/// (a terminal escape in a principal or purpose, say) shown escaped.
fn cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '|' => out.push_str("\\|"),
            '\n' | '\r' => out.push(' '),
            c if c.is_control() => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
    out
}

fn md_table(out: &mut String, header: &[&str], rows: &[Vec<String>]) {
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let _ = writeln!(out, "|{}", " --- |".repeat(header.len()));
    for row in rows {
        let cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out.push('\n');
}

fn or_dash(value: Option<&str>) -> String {
    value.map_or_else(|| "—".to_owned(), ToOwned::to_owned)
}

fn markdown(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# tierseal report\n");
    let _ = writeln!(out, "- Generated: {}", report.generated_at);
    let _ = writeln!(
        out,
        "- Period: from {} to {} (access counts only)",
        report.period.from.as_deref().unwrap_or("the first entry"),
        report.period.to.as_deref().unwrap_or("the last entry")
    );
    let state = &report.keystore;
    let _ = writeln!(out, "- Keystore: `{}`", state.path);
    let _ = writeln!(out, "- Custody: {}", state.custody.description);
    if !state.custody.holder_names.is_empty() {
        let _ = writeln!(
            out,
            "- Share holders: {}",
            cell(&state.custody.holder_names.join(", "))
        );
        let _ = writeln!(
            out,
            "- Dual control (M custodians) for: {}",
            cell(&state.custody.dual_control.join(", "))
        );
    }
    let _ = writeln!(out);

    let _ = writeln!(out, "## Keys\n");
    let mut rows = Vec::new();
    for tier in &state.tiers {
        for version in &tier.versions {
            let state_name = match version.state {
                KeyState::Active => "active (primary)",
                KeyState::DecryptOnly => "decrypt-only",
                KeyState::Retired => "retired",
            };
            rows.push(vec![
                tier.tier.clone(),
                format!("v{}", version.version),
                state_name.into(),
                version.created_at.clone(),
                age(version.age_days.saturating_mul(86_400)),
                format!("{}d", tier.cryptoperiod_days),
                if version.overdue {
                    "**OVERDUE**".into()
                } else if version.rotation_due {
                    "**due soon**".into()
                } else {
                    "ok".into()
                },
                or_dash(version.retired_at.as_deref()),
                version.check_value.clone(),
            ]);
        }
    }
    md_table(
        &mut out,
        &[
            "Tier",
            "Version",
            "State",
            "Created",
            "Age",
            "Cryptoperiod",
            "Period",
            "Retired",
            "Check value",
        ],
        &rows,
    );
    let tiers = |due: fn(&TierState) -> bool| -> Vec<&str> {
        state
            .tiers
            .iter()
            .filter(|t| due(t))
            .map(|t| t.tier.as_str())
            .collect()
    };
    let overdue = tiers(|t| t.overdue);
    let soon = tiers(|t| t.rotation_due && !t.overdue);
    if overdue.is_empty() && soon.is_empty() {
        let _ = writeln!(out, "Every primary key is within its cryptoperiod.\n");
    }
    if !overdue.is_empty() {
        let _ = writeln!(
            out,
            "**Overdue for rotation:** {} (`tierseal keys rotate --tier TIER`).\n",
            overdue.join(", ")
        );
    }
    if !soon.is_empty() {
        let _ = writeln!(
            out,
            "**Due for rotation within {}:** {}.\n",
            report.within.as_deref().unwrap_or("the period asked"),
            soon.join(", ")
        );
    }

    let _ = writeln!(out, "## Grants\n");
    let outstanding = state
        .grants
        .iter()
        .filter(|g| g.status == "outstanding")
        .count();
    let _ = writeln!(
        out,
        "{outstanding} outstanding, {} expired.\n",
        state.grants.len() - outstanding
    );
    if !state.grants.is_empty() {
        let rows: Vec<Vec<String>> = state
            .grants
            .iter()
            .map(|grant| {
                vec![
                    grant.id.clone(),
                    grant.principal.clone(),
                    grant.issued_at.clone(),
                    grant.expires_at.clone(),
                    grant.status.into(),
                    grant_tiers_text(&grant.tiers),
                    grant_tiers_text(&grant.search),
                ]
            })
            .collect();
        md_table(
            &mut out,
            &[
                "Id",
                "Principal",
                "Issued",
                "Expires",
                "Status",
                "Tiers",
                "Search",
            ],
            &rows,
        );
    }

    let _ = writeln!(out, "## Classification inventory\n");
    match &report.inventory {
        None => {
            let _ = writeln!(out, "Not included: pass `--source DIR`.\n");
        }
        Some(inventory) => markdown_inventory(&mut out, inventory),
    }

    let _ = writeln!(out, "## Audit logs\n");
    for log in &report.audit {
        markdown_log(&mut out, log);
    }
    out
}

fn markdown_inventory(out: &mut String, inventory: &Inventory) {
    let _ = writeln!(
        out,
        "{} classified fields in {} files under {}; {} error and {} warning findings.\n",
        inventory.fields,
        inventory.files,
        inventory.sources.join(", "),
        inventory.errors,
        inventory.warnings
    );
    let rows: Vec<Vec<String>> = inventory
        .by_tier
        .iter()
        .map(|t| {
            vec![
                t.tier.clone(),
                t.fields.to_string(),
                t.masked.to_string(),
                t.transient.to_string(),
            ]
        })
        .collect();
    md_table(out, &["Tier", "Fields", "Masked", "Transient"], &rows);
    if !inventory.findings.is_empty() {
        let rows: Vec<Vec<String>> = inventory
            .findings
            .iter()
            .map(|f| {
                vec![
                    f.severity.into(),
                    f.rule.into(),
                    or_dash(f.category),
                    f.item.clone(),
                    format!("{}:{}", f.file, f.line),
                ]
            })
            .collect();
        md_table(
            out,
            &["Severity", "Rule", "Category", "Item", "Where"],
            &rows,
        );
    }
}

fn markdown_log(out: &mut String, log: &LogSection) {
    let role = match log.role {
        LogRole::Keystore => "key operations",
        LogRole::Service => "service",
    };
    let _ = writeln!(out, "### `{}` ({role})\n", log.log);
    let v = &log.verification;
    match &v.failure {
        None => {
            let _ = writeln!(
                out,
                "Verification: **OK** — {} entries, every MAC and the chain intact.",
                v.entries.unwrap_or(0)
            );
        }
        Some(failure) => {
            let _ = writeln!(
                out,
                "Verification: **FAILED** at line {} ({}): {}. Counts below cover only the \
                 entries before it.",
                failure.line,
                failure.problem,
                cell(&failure.detail)
            );
        }
    }
    match (v.checkpoint_covers, v.uncovered) {
        (Some(seq), Some(uncovered)) => {
            let _ = writeln!(
                out,
                "Checkpoint: entries 1..={seq} covered; {uncovered} after it not covered."
            );
        }
        (None, Some(_)) => {
            let _ = writeln!(
                out,
                "Checkpoint: none; removal of the last entries cannot be detected."
            );
        }
        _ => {}
    }
    if !v.unfinished.is_empty() {
        let seqs: Vec<String> = v.unfinished.iter().map(|s| format!("#{s}")).collect();
        let _ = writeln!(
            out,
            "Interrupted (intent without outcome): {}.",
            seqs.join(", ")
        );
    }
    for incident in &v.incidents {
        let _ = writeln!(
            out,
            "Incident #{}: {} ({}).",
            incident.seq,
            incident.action,
            cell(incident.reason.as_deref().unwrap_or(""))
        );
    }
    let _ = writeln!(
        out,
        "\n{} entries counted in the period.\n",
        log.counted_entries
    );
    if !log.access.is_empty() {
        let rows: Vec<Vec<String>> = log
            .access
            .iter()
            .map(|a| {
                vec![
                    a.principal.clone(),
                    or_dash(a.tier.as_deref()),
                    or_dash(a.purpose.as_deref()),
                    a.opened.to_string(),
                    a.withheld.to_string(),
                    a.failed.to_string(),
                    a.denied.to_string(),
                ]
            })
            .collect();
        md_table(
            out,
            &[
                "Principal",
                "Tier",
                "Purpose",
                "Opened",
                "Withheld",
                "Failed",
                "Denied",
            ],
            &rows,
        );
    }
    if !log.operations.is_empty() {
        let rows: Vec<Vec<String>> = log
            .operations
            .iter()
            .map(|o| {
                vec![
                    o.principal.clone(),
                    o.action.into(),
                    o.outcome.into(),
                    o.count.to_string(),
                ]
            })
            .collect();
        md_table(out, &["Principal", "Action", "Outcome", "Count"], &rows);
    }
}

fn unix(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "test code")]

    use std::time::Duration;

    use tierseal::Tier;
    use tierseal::audit::FieldAccess;

    use super::*;

    fn at(text: &str) -> SystemTime {
        audit::parse_utc_timestamp(text).unwrap()
    }

    #[test]
    fn times_are_dates_rfc3339_or_durations_ago() {
        let now = at("2026-11-27T12:00:00Z");
        assert_eq!(
            parse_time("2026-11-01", None, "--from").unwrap(),
            at("2026-11-01")
        );
        assert_eq!(
            parse_time("2026-11-01T08:30:00Z", None, "--from").unwrap(),
            at("2026-11-01T08:30:00Z")
        );
        assert_eq!(
            parse_time("24h", Some(now), "--since").unwrap(),
            now - Duration::from_secs(86_400)
        );
        for bad in ["24h", "2026-13-01", "2026-11-01T25:00:00Z", "yesterday", ""] {
            let error = parse_time(bad, None, "--from").unwrap_err();
            assert!(
                matches!(error, ReportError::BadPeriod { .. }),
                "{bad}: {error}"
            );
            assert!(error.to_string().contains("--from"), "{error}");
        }
        let error = parse_time("soon\u{7}", Some(now), "--since").unwrap_err();
        assert!(
            !error.to_string().contains('\u{7}'),
            "control characters are escaped: {error}"
        );
    }

    fn open(principal: &str, purpose: Option<&str>, outcome: Outcome) -> AuditEvent {
        let mut event = AuditEvent::now("svc", principal, Action::Open, outcome);
        event.purpose = purpose.map(str::to_owned);
        event
    }

    fn field(tier: &str, outcome: FieldOutcome) -> FieldAccess {
        FieldAccess {
            field: "f".into(),
            tier: tier.parse::<Tier>().unwrap(),
            key_version: Some(1),
            outcome,
        }
    }

    #[test]
    fn opens_count_once_per_tier_and_denials_under_no_tier() {
        let mut access = BTreeMap::new();
        let mut partial = open("alice", Some("T-1"), Outcome::Partial);
        partial.fields = vec![
            field("internal", FieldOutcome::Revealed),
            field("internal", FieldOutcome::Revealed),
            field("restricted/cards", FieldOutcome::Withheld),
        ];
        count_open(&partial, &mut access);
        count_open(&partial, &mut access);
        let mut denied = open("bob", None, Outcome::Denied);
        denied.fields = vec![field("internal", FieldOutcome::Revealed)];
        count_open(&denied, &mut access);
        let rows: Vec<String> = access
            .values()
            .map(|a| {
                format!(
                    "{} {:?} {:?} {}/{}/{}/{}",
                    a.principal, a.tier, a.purpose, a.opened, a.withheld, a.failed, a.denied
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                "alice Some(\"internal\") Some(\"T-1\") 2/0/0/0",
                "alice Some(\"restricted/cards\") Some(\"T-1\") 0/2/0/0",
                "bob None None 0/0/0/1",
            ]
        );
    }

    #[test]
    fn the_period_is_half_open() {
        let period = Period {
            from: Some(at("2026-11-01")),
            to: Some(at("2026-12-01")),
        };
        let mut event = open("a", None, Outcome::Ok);
        for (time, admitted) in [
            ("2026-10-31T23:59:59Z", false),
            ("2026-11-01T00:00:00Z", true),
            ("2026-11-30T23:59:59Z", true),
            ("2026-12-01T00:00:00Z", false),
        ] {
            event.time = at(time).into();
            assert_eq!(period.admits(&event), admitted, "{time}");
        }
    }

    #[test]
    fn markdown_cells_stay_in_their_column() {
        assert_eq!(cell("a|b\nc\u{1b}[31m"), "a\\|b c\\u{1b}[31m");
    }
}
