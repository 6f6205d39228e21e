//! Job payloads: each names the row that says what is due.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Send the mail stored as row `mail_id` of `mails`, unless it was sent already.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendEmail {
    pub mail_id: Uuid,
}

/// Expire appointment `appointment_id` if it is still reserved, unpaid and due.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpireReservation {
    pub appointment_id: Uuid,
}

/// Apply the scan batch stored as row `batch_id` of `scan_batches`, unless it was applied already.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestScan {
    pub batch_id: Uuid,
}
