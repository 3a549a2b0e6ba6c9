//! The command line, as clap reads it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use tierseal::{Clearance, KeystoreLocation, Tier};

/// Key custody and CI checks for tierseal.
///
/// Passphrases are never taken as arguments: use --passphrase-file, the
/// TIERSEAL_PASSPHRASE environment variable (for automation; anything that
/// can read the process environment can read it), or the prompt.
///
/// Exit codes: 0 success, 1 failure or findings, 2 usage error.
#[derive(Debug, Parser)]
#[command(name = "tierseal", version, max_term_width = 100)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: GlobalArgs,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Options every command accepts.
#[derive(Debug, Args)]
pub(crate) struct GlobalArgs {
    /// The keystore: a file, or `openbao://MOUNT/PATH` for a KV version 2
    /// secret on the OpenBao/Vault server BAO_ADDR and BAO_TOKEN (or
    /// VAULT_ADDR and VAULT_TOKEN) name.
    #[arg(
        long,
        global = true,
        env = "TIERSEAL_KEYSTORE",
        default_value = "tierseal.keystore",
        value_name = "PATH|openbao://MOUNT/PATH"
    )]
    pub(crate) keystore: KeystoreLocation,
    /// Read the passphrase from this file (its first line).
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) passphrase_file: Option<PathBuf>,
    /// Seconds to wait for another process's keystore lock, and (with a
    /// database) for another writer's lock (a huge number waits until it is
    /// released).
    #[arg(long, global = true, default_value_t = 10, value_name = "SECONDS")]
    pub(crate) lock_wait: u64,
    /// The audit log of key operations (default: KEYSTORE.audit.jsonl; for
    /// openbao://MOUNT/PATH, tierseal-MOUNT-PATH.audit.jsonl in the current
    /// folder, with / in PATH as -).
    #[arg(long, global = true, value_name = "PATH")]
    pub(crate) audit_log: Option<PathBuf>,
    /// Who is running the command, for the audit log (default: $USER).
    #[arg(long, global = true, env = "TIERSEAL_ACTOR", value_name = "NAME")]
    pub(crate) actor: Option<String>,
    /// A custodian share file, to unlock a split keystore (repeat once per
    /// holder: M of them). Each holder's passphrase is prompted for, or read
    /// from the --share-passphrase-file given in the same position.
    #[arg(long = "share", global = true, value_name = "FILE")]
    pub(crate) shares: Vec<PathBuf>,
    /// The passphrase file of the --share in the same position (repeat once
    /// per --share, in the same order; for automation).
    #[arg(long = "share-passphrase-file", global = true, value_name = "FILE")]
    pub(crate) share_passphrase_files: Vec<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create a keystore with tiers internal, confidential and restricted.
    Init(InitArgs),
    /// List, add, rotate, promote, retire and check tier keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Change the keystore passphrase.
    #[command(subcommand)]
    Passphrase(PassphraseCommand),
    /// Issue grants, list the grants issued, or inspect a grant file.
    #[command(subcommand)]
    Grant(GrantCommand),
    /// Rewrap every data key in a JSON Lines file, or in an SQLite or
    /// PostgreSQL database (--db), under its tier's primary key.
    Rewrap(RewrapArgs),
    /// Find financial fields left unclassified in Rust sources.
    Lint(LintArgs),
    /// List every classified field in Rust sources.
    Inventory(InventoryArgs),
    /// Verify or search an audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Print, for an auditor, the keystore's state, the classification
    /// inventory of sources and the audit logs' verification and access
    /// counts; exit 1 after printing when a log does not verify.
    Report(ReportArgs),
    /// Custodian shares of a split keystore: verify, show, split, reissue, join.
    #[command(subcommand)]
    Shares(SharesCommand),
    /// Sign a break-glass approval: let one principal open one tier for one
    /// purpose, for a short time (--actor names the approving custodian).
    Approve(ApproveArgs),
    /// Print the public key services verify approvals against.
    ApproverKey,
}

/// Output formats of `report`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum ReportFormat {
    /// Markdown with tables.
    Markdown,
    /// JSON (schema `tierseal-report/1`, see docs/COMPLIANCE.md).
    Json,
}

#[derive(Debug, Args)]
pub(crate) struct ReportArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "markdown")]
    pub(crate) format: ReportFormat,
    /// Count accesses at or after this time: a duration ago (30d, 24h), a
    /// date (2026-11-01, midnight UTC) or an RFC 3339 UTC time.
    #[arg(long, value_name = "WHEN", conflicts_with_all = ["from", "to"])]
    pub(crate) since: Option<String>,
    /// Count accesses at or after this date or RFC 3339 UTC time.
    #[arg(long, value_name = "DATE")]
    pub(crate) from: Option<String>,
    /// Count accesses before this date or RFC 3339 UTC time (exclusive:
    /// --from 2026-11-01 --to 2026-12-01 is November).
    #[arg(long, value_name = "DATE")]
    pub(crate) to: Option<String>,
    /// Also flag keys that will be past their cryptoperiod within this
    /// time (e.g. 30d), as `keys check --within` does.
    #[arg(long, value_parser = crate::text::parse_duration)]
    pub(crate) within: Option<std::time::Duration>,
    /// A source tree (crate, workspace or folder) whose classification
    /// inventory and lint findings to include (repeatable).
    #[arg(long = "source", value_name = "DIR")]
    pub(crate) sources: Vec<PathBuf>,
    /// A service's audit log to verify and count (repeatable); the
    /// keystore's own log (--audit-log) is always included.
    #[arg(long = "log", value_name = "FILE")]
    pub(crate) logs: Vec<PathBuf>,
    /// A checkpoint file from `tierseal audit checkpoint` for the one
    /// --log given (repeatable).
    #[arg(long = "checkpoint", value_name = "FILE", requires = "logs")]
    pub(crate) checkpoints: Vec<PathBuf>,
}

/// Where a new share set goes and who holds it.
#[derive(Debug, Args)]
pub(crate) struct NewSharesArgs {
    /// A share holder (repeat N times, in share order).
    #[arg(long = "holder", value_name = "NAME")]
    pub(crate) holders: Vec<String>,
    /// The folder the share files are written to, one per holder, named
    /// KEYSTORE.gGENERATION.INDEX-HOLDER.share (never overwritten).
    #[arg(long, value_name = "DIR")]
    pub(crate) share_out: Option<PathBuf>,
    /// The passphrase file of the --holder in the same position (repeat
    /// once per holder; else each holder is prompted on the terminal).
    #[arg(long = "holder-passphrase-file", value_name = "FILE")]
    pub(crate) holder_passphrase_files: Vec<PathBuf>,
    /// Comma-separated operations that need M custodians: retire,
    /// grant-restricted, root-change, kek-migration, or none (default: all
    /// for a new split; the current policy for a reissue).
    #[arg(long, value_name = "OPS")]
    pub(crate) dual_control: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum SharesCommand {
    /// Check one share without unlocking anything: its holder's passphrase
    /// opens it, and it belongs to this keystore's current share set.
    /// Give the share with --share (and --share-passphrase-file or a prompt).
    Verify,
    /// Print the keystore's share set and dual-control policy as its file
    /// records them (read without unlocking; not authenticated).
    Show {
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Convert a passphrase keystore to M-of-N custodian shares (needs the
    /// passphrase).
    Split {
        /// M-of-N, e.g. 2-of-3.
        #[arg(long, value_parser = parse_split)]
        split: tierseal::SplitSpec,
        #[command(flatten)]
        new: NewSharesArgs,
        /// The KDF profile of the share files.
        #[arg(long, value_enum, default_value = "production")]
        kdf_profile: KdfProfileArg,
    },
    /// Replace the whole share set (needs M current shares): a new master
    /// key, every key re-wrapped, shares of a new generation; the old
    /// shares become useless.
    Reissue {
        /// M-of-N of the new set (default: the current M, N = the holders).
        #[arg(long, value_parser = parse_split)]
        split: Option<tierseal::SplitSpec>,
        #[command(flatten)]
        new: NewSharesArgs,
        /// The KDF profile of the share files.
        #[arg(long, value_enum, default_value = "production")]
        kdf_profile: KdfProfileArg,
    },
    /// Convert a split keystore back to one passphrase (needs M shares).
    Join {
        /// Read the new passphrase from this file (else TIERSEAL_NEW_PASSPHRASE or a prompt).
        #[arg(long, value_name = "FILE")]
        new_passphrase_file: Option<PathBuf>,
        /// The KDF profile for the new passphrase.
        #[arg(long, value_enum, default_value = "production")]
        kdf_profile: KdfProfileArg,
    },
}

#[derive(Debug, Args)]
pub(crate) struct ApproveArgs {
    /// The principal (service or person) allowed to open.
    #[arg(long)]
    pub(crate) requester: String,
    /// The tier it may open, e.g. restricted/cards.
    #[arg(long)]
    pub(crate) tier: Tier,
    /// The purpose the access must give, exactly (a ticket id or reason).
    #[arg(long)]
    pub(crate) purpose: String,
    /// How long it is valid: 30m, 2h, ... (at most 24h).
    #[arg(long, value_parser = crate::text::parse_duration)]
    pub(crate) expires: std::time::Duration,
    /// Write the approval here (mode 0600) instead of printing it.
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
    /// Overwrite an existing --out file.
    #[arg(long)]
    pub(crate) force: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// Check every entry's MAC, the chain, and how far checkpoints cover it;
    /// exit 1 naming the first bad entry, or for an empty or missing log.
    Verify {
        /// The audit log.
        file: PathBuf,
        /// A checkpoint file from `tierseal audit checkpoint` (repeatable):
        /// the log must still hold every entry it covers.
        #[arg(long = "checkpoint", value_name = "FILE")]
        checkpoints: Vec<PathBuf>,
    },
    /// Verify a log and write a signed checkpoint of its head, so that
    /// removing its last entries is found later.
    Checkpoint {
        /// The audit log.
        file: PathBuf,
        /// Where to write the checkpoint (keep it where the log's writers
        /// cannot write).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Overwrite an existing checkpoint file.
        #[arg(long)]
        force: bool,
    },
    /// Verify a log, then print its entries, filtered; entries that did not
    /// verify are marked UNVERIFIED.
    Show {
        /// The audit log.
        file: PathBuf,
        /// Only this principal's entries.
        #[arg(long)]
        principal: Option<String>,
        /// Only entries at or after this time: a date (2026-11-27), an
        /// RFC 3339 time, or a duration ago (24h, 7d).
        #[arg(long)]
        since: Option<String>,
        /// Only this action (open, rotate, retire, ...).
        #[arg(long)]
        action: Option<String>,
        /// Print JSON Lines.
        #[arg(long)]
        json: bool,
        /// Do not verify (no keystore needed): every entry is marked
        /// UNVERIFIED.
        #[arg(long)]
        no_verify: bool,
    },
}

/// The KDF profile of `init` and `passphrase change`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum KdfProfileArg {
    /// Argon2id, 64 MiB, 3 passes: for every real keystore.
    Production,
    /// Cheap Argon2id for tests and demos: NOT for real keys.
    Test,
}

/// What protects tier keys at rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum KekArg {
    /// A master key under an Argon2id-derived passphrase key (one host).
    Passphrase,
    /// OpenBao / HashiCorp Vault Transit: one Transit key per tier. The
    /// server and token come from BAO_ADDR/BAO_TOKEN (or VAULT_ADDR/VAULT_TOKEN).
    Openbao,
    /// A PKCS#11 token (an HSM): one AES key object per tier.
    Pkcs11,
}

/// Where a key-encryption provider's keys are (non-secret; recorded in
/// the keystore header).
#[derive(Debug, Args)]
pub(crate) struct KekArgs {
    /// The mount of the Transit engine (--kek openbao).
    #[arg(long, default_value = "transit", value_name = "MOUNT")]
    pub(crate) transit_mount: String,
    /// The prefix of the provider's key names: tier restricted/cards is
    /// wrapped by key PREFIXrestricted-cards, the metadata by PREFIXkeystore.
    #[arg(long, default_value = "tierseal-", value_name = "PREFIX")]
    pub(crate) key_prefix: String,
    /// The PKCS#11 module (--kek pkcs11), e.g. /usr/lib/softhsm/libsofthsm2.so.
    #[arg(long, value_name = "PATH")]
    pub(crate) pkcs11_module: Option<PathBuf>,
    /// The label of the PKCS#11 token (--kek pkcs11); the PIN comes from
    /// TIERSEAL_PKCS11_PIN or a prompt.
    #[arg(long, value_name = "LABEL")]
    pub(crate) pkcs11_token: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// Also create this compartmented tier (repeatable), e.g. restricted/cards.
    #[arg(long = "tier", value_name = "TIER", value_parser = parse_tier)]
    pub(crate) tiers: Vec<Tier>,
    /// How expensive the passphrase derivation is (--kek passphrase).
    #[arg(long, value_enum, default_value = "production")]
    pub(crate) kdf_profile: KdfProfileArg,
    /// Split the master key into M-of-N custodian shares (e.g. 2-of-3)
    /// instead of protecting it with one passphrase; needs --holder N times
    /// and --share-out.
    #[arg(long, value_parser = parse_split, value_name = "M-of-N")]
    pub(crate) split: Option<tierseal::SplitSpec>,
    #[command(flatten)]
    pub(crate) new_shares: NewSharesArgs,
    /// What protects the tier keys: no passphrase is asked with openbao or
    /// pkcs11, later commands need only TIERSEAL_KEYSTORE and the
    /// provider's credential.
    #[arg(long, value_enum, default_value = "passphrase")]
    pub(crate) kek: KekArg,
    #[command(flatten)]
    pub(crate) provider: KekArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum KeysCommand {
    /// One row per tier and version: state, age, cryptoperiod, check value.
    List {
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Add a tier at version 1.
    AddTier {
        /// The tier, e.g. confidential/payroll.
        #[arg(value_parser = parse_tier)]
        tier: Tier,
        /// The HPKE suite of the tier's public keys (for seal-only
        /// services): x25519, or xwing (X25519 + ML-KEM-768, post-quantum
        /// hybrid; larger tokens). Fixed for the tier's life.
        #[arg(long, default_value = "x25519", value_parser = parse_suite)]
        suite: tierseal::HpkeSuite,
    },
    /// Write every tier's primary public key, signed with the keystore's
    /// publisher key, for seal-only services; prints the verifying key
    /// they pin.
    Publish {
        /// Where to write the public key set.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Create version v+1 of a tier and make it primary; or, with --kek,
    /// rotate the provider's keys and re-wrap the tier keys (no data changes).
    Rotate {
        /// The tier to rotate.
        #[arg(long, value_parser = parse_tier, required_unless_present = "kek", conflicts_with = "kek")]
        tier: Option<Tier>,
        /// Rotate the key-encryption keys (Transit keys, HSM key objects)
        /// instead, and re-wrap every tier key version under them.
        #[arg(long)]
        kek: bool,
        /// Why (recorded with the rotation).
        #[arg(long)]
        reason: Option<String>,
        /// Say what would happen; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Create version v+1 without promoting it (hand it to readers first).
    AddVersion {
        /// The tier.
        #[arg(long, value_parser = parse_tier)]
        tier: Tier,
    },
    /// Make a version the primary (sealing) version.
    Promote {
        /// The tier.
        #[arg(long, value_parser = parse_tier)]
        tier: Tier,
        /// The version to promote.
        #[arg(long)]
        version: u32,
        /// Say what would happen; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Destroy a version's key material (crypto-shredding).
    Retire(RetireArgs),
    /// Exit 1 and list keys past their cryptoperiod (for cron and CI).
    Check {
        /// Also report keys that will be overdue within this time (e.g. 30d).
        #[arg(long, value_parser = crate::text::parse_duration)]
        within: Option<std::time::Duration>,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Create a new blind-index key version of a tier and make it primary
    /// (version 1 for a keystore made before blind indexes). Encryption
    /// keys are not touched; stored index values stay findable under the
    /// old version until a re-index job recomputes them.
    RotateIndex {
        /// The tier.
        #[arg(long, value_parser = parse_tier)]
        tier: Tier,
    },
    /// Destroy an old blind-index key version, after the re-index job.
    RetireIndex {
        /// The tier.
        #[arg(long, value_parser = parse_tier)]
        tier: Tier,
        /// The index key version to retire.
        #[arg(long)]
        version: u32,
        /// Retire even though unexpired grants carry the index key version
        /// (their holders keep their copy and can still compute index values
        /// under it until the grants expire).
        #[arg(long)]
        force: bool,
    },
    /// One row per tier and blind-index key version.
    ListIndex {
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Move the keystore to another key-encryption provider, in one atomic
    /// save (tier keys and data are unchanged).
    MigrateKek {
        /// The provider to move to.
        #[arg(long, value_enum)]
        to: KekArg,
        #[command(flatten)]
        provider: KekArgs,
        /// The KDF profile (--to passphrase; the new passphrase comes from
        /// --new-passphrase-file, TIERSEAL_NEW_PASSPHRASE or a prompt).
        #[arg(long, value_enum, default_value = "production")]
        kdf_profile: KdfProfileArg,
        /// Read the new passphrase from this file (--to passphrase).
        #[arg(long, value_name = "FILE")]
        new_passphrase_file: Option<PathBuf>,
    },
    /// Set how long a tier's primary key may stay in use.
    Cryptoperiod {
        /// The tier.
        #[arg(long, value_parser = parse_tier)]
        tier: Tier,
        /// The cryptoperiod in days.
        #[arg(long)]
        days: u32,
    },
}

#[derive(Debug, Args)]
pub(crate) struct RetireArgs {
    /// The tier.
    #[arg(long, value_parser = parse_tier)]
    pub(crate) tier: Tier,
    /// The version to retire.
    #[arg(long)]
    pub(crate) version: u32,
    /// A JSON Lines data file, or a database (sqlite://PATH,
    /// postgres://...; every table and text or JSON column), to check for
    /// values still wrapped under the version (repeatable); retiring is
    /// refused while any is, or while a line or row of it cannot be read.
    #[arg(long = "data", value_name = "FILE|URL")]
    pub(crate) data: Vec<PathBuf>,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub(crate) yes: bool,
    /// Retire even though unexpired grants carry the version (their holders
    /// keep their copy of the key until the grants expire).
    #[arg(long)]
    pub(crate) force: bool,
    /// Check and say what would happen; change nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum PassphraseCommand {
    /// Set a new passphrase and a new master key; every key is re-wrapped under it.
    Change {
        /// Read the new passphrase from this file (else TIERSEAL_NEW_PASSPHRASE or a prompt).
        #[arg(long, value_name = "FILE")]
        new_passphrase_file: Option<PathBuf>,
        /// The KDF profile for the new passphrase.
        #[arg(long, value_enum, default_value = "production")]
        kdf_profile: KdfProfileArg,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum GrantCommand {
    /// Write a grant file for a service: only the granted tiers' keys,
    /// encrypted under a fresh secret, with an expiry.
    Issue(GrantIssueArgs),
    /// List every grant the keystore issued, expired ones marked.
    List {
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Print the OpenBao policy (HCL) for a service of a clearance: decrypt
    /// on those tiers' Transit keys and index keys and on the keystore key,
    /// nothing else. Mount and prefix come from the keystore when it uses
    /// OpenBao.
    Policy {
        /// Comma-separated tiers the service opens (and searches), e.g.
        /// internal,confidential/payroll.
        #[arg(long, value_parser = parse_clearance, required_unless_present_any = ["custodian", "search"])]
        clearance: Option<Clearance>,
        /// Comma-separated tiers the service may search (compute blind
        /// indexes for) without opening them, e.g. restricted/cards:
        /// decrypt on their index keys only.
        #[arg(long = "search", value_parser = parse_clearance, value_name = "TIERS")]
        search: Option<Clearance>,
        /// Print the custodian's policy instead (create, rotate, encrypt,
        /// decrypt and rewrap on every key under the prefix).
        #[arg(long, conflicts_with_all = ["clearance", "search"])]
        custodian: bool,
        /// The Transit mount (default: the keystore's, else transit).
        #[arg(long, value_name = "MOUNT")]
        transit_mount: Option<String>,
        /// The key prefix (default: the keystore's, else tierseal-).
        #[arg(long, value_name = "PREFIX")]
        key_prefix: Option<String>,
    },
    /// Print what a grant file grants (no key bytes; not verified).
    Show {
        /// The grant file.
        file: PathBuf,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub(crate) struct GrantIssueArgs {
    /// The service or person the grant is for.
    #[arg(long)]
    pub(crate) principal: String,
    /// Comma-separated tiers, e.g. internal,confidential,restricted/cards.
    #[arg(long, value_parser = parse_clearance, required_unless_present = "search")]
    pub(crate) clearance: Option<Clearance>,
    /// Comma-separated tiers the grant may search (compute blind indexes
    /// for) without opening, e.g. restricted/cards: a support desk that
    /// finds a customer by IBAN and cannot read one. Tiers in --clearance
    /// are searchable anyway. With --seal-only: the tiers whose index
    /// columns the service fills (their index keys, in a search grant
    /// beside the public key set).
    #[arg(long = "search", alias = "search-only", value_parser = parse_clearance, value_name = "TIERS")]
    pub(crate) search: Option<Clearance>,
    /// How long it is valid: 30d, 12h, 2w, ... (with --seal-only: only
    /// with --search, for the search grant; a public key set holds no
    /// secret and does not expire).
    #[arg(
        long,
        value_parser = crate::text::parse_duration,
        required_unless_present = "seal_only"
    )]
    pub(crate) expires: Option<std::time::Duration>,
    /// Write a seal-only grant: the clearance's public keys in a signed
    /// public key set, no secret at all (no secret file is written). The
    /// service can seal to those tiers and open nothing. It holds no
    /// blind-index key, so records with indexed fields are refused, unless
    /// --search names their tiers: then a search grant (index keys only,
    /// with a secret, expiring) is written too, and whoever holds it can
    /// test guessed values against the index columns.
    #[arg(long, conflicts_with = "require_approval", requires = "clearance")]
    pub(crate) seal_only: bool,
    /// Where to write the grant file.
    #[arg(long, value_name = "FILE")]
    pub(crate) out: PathBuf,
    /// With --seal-only --search: where to write the search grant
    /// (default: FILE.search; its secret goes to --secret-out, default
    /// FILE.search.secret).
    #[arg(long, value_name = "FILE", requires = "seal_only")]
    pub(crate) search_out: Option<PathBuf>,
    /// Comma-separated tiers of the grant whose opens need a break-glass
    /// approval (`tierseal approve`), e.g. restricted/cards.
    #[arg(long, value_name = "TIERS", value_parser = parse_clearance)]
    pub(crate) require_approval: Option<Clearance>,
    /// Where to write the grant's secret (default: FILE.secret, mode 0600).
    /// Deliver it separately from the grant file.
    #[arg(long, value_name = "FILE")]
    pub(crate) secret_out: Option<PathBuf>,
    /// Overwrite existing files.
    #[arg(long)]
    pub(crate) force: bool,
}

#[derive(Debug, Args)]
pub(crate) struct RewrapArgs {
    /// The JSON Lines file of sealed records.
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "db",
        conflicts_with = "db"
    )]
    pub(crate) input: Option<PathBuf>,
    /// Where to write the rewrapped records.
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present_any = ["in_place", "db"],
        conflicts_with_all = ["in_place", "db"]
    )]
    pub(crate) output: Option<PathBuf>,
    /// Replace the input file (atomically, only on success).
    #[arg(long, conflicts_with = "db")]
    pub(crate) in_place: bool,
    /// Overwrite an existing --output file.
    #[arg(long)]
    pub(crate) force: bool,
    /// Count what would be rewrapped; write nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    #[command(flatten)]
    pub(crate) db: DbArgs,
    /// With --db: stop after this many batches (the rest is done by a
    /// rerun, which resumes where this one stopped): spreads a large job
    /// over several windows.
    #[arg(long, value_name = "N", requires = "db")]
    pub(crate) max_batches: Option<u64>,
    /// With --db: forget the progress an interrupted run recorded and
    /// start over from the first row.
    #[arg(long, requires = "db")]
    pub(crate) restart: bool,
}

/// Which database, tables and columns a database job covers.
#[derive(Debug, Args)]
pub(crate) struct DbArgs {
    /// Rewrap the database at this URL in place, batch by batch:
    /// sqlite://PATH or postgres://[user@]host[:port]/database.
    #[arg(long, value_name = "URL")]
    pub(crate) db: Option<String>,
    /// Only this table (repeatable; PostgreSQL: table or schema.table).
    #[arg(long = "table", value_name = "TABLE", requires = "db")]
    pub(crate) tables: Vec<String>,
    /// Only this column (repeatable).
    #[arg(long = "column", value_name = "COLUMN", requires = "db")]
    pub(crate) columns: Vec<String>,
    /// PostgreSQL: only tables of this schema (the progress table goes
    /// there too; default: every schema, progress in public).
    #[arg(long, value_name = "SCHEMA", requires = "db")]
    pub(crate) schema: Option<String>,
    /// Rows per batch (one transaction each), 1 to 100000.
    #[arg(long, default_value_t = 1000, value_name = "ROWS",
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub(crate) batch_size: u32,
}

/// Output formats of `lint`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum LintFormat {
    /// rustc-like text.
    Human,
    /// A JSON array of findings.
    Json,
    /// SARIF 2.1.0, for code-scanning tools.
    Sarif,
}

#[derive(Debug, Args)]
pub(crate) struct LintArgs {
    /// Files, crates, workspaces or folders (default: the current folder).
    pub(crate) paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub(crate) format: LintFormat,
    /// Write PATH/tierseal.lock, the classification of every field, for
    /// review; later runs fail when a field is downgraded or removed.
    #[arg(long)]
    pub(crate) update_lock: bool,
}

/// Output formats of `inventory`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum InventoryFormat {
    /// An aligned table.
    Table,
    /// JSON.
    Json,
    /// A Markdown table.
    Markdown,
}

#[derive(Debug, Args)]
pub(crate) struct InventoryArgs {
    /// Files, crates or folders (default: the current folder).
    pub(crate) paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub(crate) format: InventoryFormat,
}

fn parse_tier(text: &str) -> Result<Tier, String> {
    text.parse().map_err(|e: tierseal::Error| e.to_string())
}

fn parse_suite(text: &str) -> Result<tierseal::HpkeSuite, String> {
    text.parse().map_err(|e: tierseal::Error| e.to_string())
}

fn parse_split(text: &str) -> Result<tierseal::SplitSpec, String> {
    text.parse().map_err(|e: tierseal::Error| e.to_string())
}

fn parse_clearance(text: &str) -> Result<Clearance, String> {
    text.parse().map_err(|e: tierseal::Error| e.to_string())
}
