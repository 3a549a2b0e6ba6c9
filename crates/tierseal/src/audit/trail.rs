//! What a record opener or sealer gathers for its one audit event.

use super::{Action, ApprovalUse, AuditEvent, FieldAccess, FieldOutcome, Outcome};
use crate::{AccessContext, Binding, Error, Keyring, Tier};

/// The audit record of one record being opened or sealed. Built only when
/// the keyring has a sink, so unaudited keyrings pay nothing.
pub(crate) struct Trail {
    action: Action,
    type_name: String,
    record_id: Option<String>,
    fields: Vec<FieldAccess>,
    failure: Option<&'static str>,
    denied: bool,
    /// Why an open was denied, when an approval was missing or refused.
    denial: Option<String>,
    approvals: Vec<ApprovalUse>,
    sent: bool,
}

impl Trail {
    pub(crate) fn start(keyring: &Keyring, action: Action, binding: &Binding<'_>) -> Option<Trail> {
        keyring.audit_sink()?;
        Some(Trail {
            action,
            type_name: binding.type_name().to_owned(),
            record_id: binding.record_id().map(str::to_owned),
            fields: Vec::new(),
            failure: None,
            denied: false,
            denial: None,
            approvals: Vec::new(),
            sent: false,
        })
    }

    /// Notes the outcome of opening one field.
    pub(crate) fn opened<T>(
        &mut self,
        field: &str,
        tier: &Tier,
        version: Option<u32>,
        result: &Result<T, Error>,
    ) {
        let outcome = match result {
            Ok(_) => FieldOutcome::Revealed,
            Err(Error::NotGranted { .. }) => FieldOutcome::Withheld,
            Err(Error::PurposeRequired { .. } | Error::InvalidPurpose { .. }) => {
                self.denied = true;
                return;
            }
            // No approval for a tier that needs one: withheld, as a tier
            // not granted is, with the reason on the record.
            Err(error @ Error::ApprovalRequired { .. }) => {
                self.denial
                    .get_or_insert_with(|| format!("{} for {tier}", error.kind()));
                FieldOutcome::Withheld
            }
            // An approval that was offered and refused: the access is denied.
            Err(
                error @ (Error::ApprovalExpired { id, .. }
                | Error::ApprovalMismatch { id, .. }
                | Error::ApprovalInvalid { id, .. }),
            ) => {
                self.denied = true;
                self.denial
                    .get_or_insert_with(|| format!("{} (approval {id}) for {tier}", error.kind()));
                return;
            }
            Err(error) => {
                self.failure.get_or_insert(error.kind());
                FieldOutcome::Failed
            }
        };
        self.push(field, tier, version, outcome);
    }

    /// Notes the approval that allowed opening `tier` (once per approval).
    pub(crate) fn approved(&mut self, approval: &crate::Approval) {
        let id = approval.id().to_string();
        if self.approvals.iter().all(|used| used.id != id) {
            self.approvals.push(ApprovalUse {
                id,
                approver: approval.approver().to_owned(),
                tier: approval.tier().clone(),
            });
        }
    }

    /// Notes one field sealed.
    pub(crate) fn sealed(&mut self, field: &str, tier: &Tier, version: Option<u32>) {
        self.push(field, tier, version, FieldOutcome::Sealed);
    }

    fn push(&mut self, field: &str, tier: &Tier, key_version: Option<u32>, outcome: FieldOutcome) {
        self.fields.push(FieldAccess {
            field: field.to_owned(),
            tier: tier.clone(),
            key_version,
            outcome,
        });
    }

    /// Sends the event; the caller reveals nothing if this fails.
    pub(crate) fn send(
        &mut self,
        keyring: &Keyring,
        ctx: Option<&AccessContext>,
    ) -> Result<(), Error> {
        if self.sent {
            return Ok(());
        }
        self.sent = true;
        let Some(sink) = keyring.audit_sink() else {
            return Ok(());
        };
        let outcome = if self.denied {
            Outcome::Denied
        } else if self.failure.is_some() {
            Outcome::Failed
        } else if self
            .fields
            .iter()
            .any(|f| f.outcome == FieldOutcome::Withheld)
        {
            Outcome::Partial
        } else {
            Outcome::Ok
        };
        let principal = ctx.map_or(keyring.writer(), AccessContext::principal);
        let mut event = AuditEvent::now(keyring.writer(), principal, self.action, outcome);
        event.purpose = ctx.and_then(|c| c.purpose().map(str::to_owned));
        event.type_name = Some(std::mem::take(&mut self.type_name));
        event.record_id = self.record_id.take();
        event.fields = std::mem::take(&mut self.fields);
        event.reason = self
            .failure
            .map(str::to_owned)
            .or_else(|| self.denial.take());
        event.approvals = std::mem::take(&mut self.approvals);
        sink.record(event)
    }

    /// Whether anything was attempted (so an unfinished trail is worth a
    /// failure event).
    pub(crate) fn is_pending(&self) -> bool {
        !self.sent && (self.denied || self.failure.is_some() || !self.fields.is_empty())
    }

    /// Marks the trail as failed with `kind` (an error that stopped the
    /// caller before every field was tried).
    pub(crate) fn fail(&mut self, kind: &'static str) {
        self.failure.get_or_insert(kind);
    }
}

/// Records a rewrap of `moved` and `current` data keys.
pub(crate) fn rewrapped(keyring: &Keyring, moved: usize, current: usize) -> Result<(), Error> {
    let Some(sink) = keyring.audit_sink() else {
        return Ok(());
    };
    let mut event = AuditEvent::now(
        keyring.writer(),
        keyring.writer(),
        Action::Rewrap,
        Outcome::Ok,
    );
    event.reason = Some(format!(
        "{moved} data keys moved to the primary version, {current} already current"
    ));
    sink.record(event)
}

impl std::fmt::Debug for Trail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trail")
            .field("action", &self.action)
            .field("fields", &self.fields.len())
            .finish_non_exhaustive()
    }
}
