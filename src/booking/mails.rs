//! The texts of the booking mails; times are shown in `booking.timezone`.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::auth::mails::Letter;

/// What a mail about an appointment needs to say.
pub struct About<'a> {
    pub name: &'a str,
    pub service: &'a str,
    pub expert: &'a str,
    pub starts_at: DateTime<Utc>,
    pub total_price: i64,
    pub currency: &'a str,
}

impl About<'_> {
    fn when(&self, timezone: Tz) -> String {
        self.starts_at
            .with_timezone(&timezone)
            .format("%A %-d %B %Y at %H:%M (%Z)")
            .to_string()
    }

    fn summary(&self, timezone: Tz) -> String {
        format!(
            "{} with {} on {}, {} {}",
            self.service,
            self.expert,
            self.when(timezone),
            self.total_price,
            self.currency
        )
    }
}

pub fn confirmed(about: &About, timezone: Tz) -> Letter {
    Letter {
        subject: "Your booking is confirmed".into(),
        body: format!(
            "Hello {},\n\nYour booking is confirmed and paid:\n\n{}\n\nSee you then.\n",
            about.name,
            about.summary(timezone)
        ),
        kind: "appointment_confirmed",
    }
}

pub fn reserved(about: &About, expires_at: DateTime<Utc>, timezone: Tz) -> Letter {
    Letter {
        subject: "Your reservation is held".into(),
        body: format!(
            "Hello {},\n\nWe hold this reservation for you:\n\n{}\n\nPay before {} or it expires \
             and the time goes to someone else.\n",
            about.name,
            about.summary(timezone),
            expires_at
                .with_timezone(&timezone)
                .format("%-d %B %Y %H:%M (%Z)")
        ),
        kind: "appointment_reserved",
    }
}

pub fn expired(about: &About, timezone: Tz) -> Letter {
    Letter {
        subject: "Your reservation expired".into(),
        body: format!(
            "Hello {},\n\nThis reservation was not paid in time and has expired:\n\n{}\n\n\
             You are welcome to book again.\n",
            about.name,
            about.summary(timezone)
        ),
        kind: "appointment_expired",
    }
}

pub fn cancelled(about: &About, timezone: Tz) -> Letter {
    Letter {
        subject: "Your appointment was cancelled".into(),
        body: format!(
            "Hello {},\n\nThis appointment was cancelled:\n\n{}\n",
            about.name,
            about.summary(timezone)
        ),
        kind: "appointment_cancelled",
    }
}
