//! The texts of the account mails.

use crate::mail::OutgoingMail;

pub struct Letter {
    pub subject: String,
    pub body: String,
    pub kind: &'static str,
}

impl Letter {
    pub fn to<'a>(&'a self, address: &'a str) -> OutgoingMail<'a> {
        OutgoingMail {
            to: address,
            subject: &self.subject,
            body: &self.body,
            kind: self.kind,
        }
    }
}

fn hello(name: Option<&str>) -> String {
    name.map_or_else(|| "Hello,".to_owned(), |name| format!("Hello {name},"))
}

pub fn verification(public_url: &str, name: Option<&str>, token: &str) -> Letter {
    let link = format!(
        "{}/api/v1/auth/verify-email/{token}",
        public_url.trim_end_matches('/')
    );
    Letter {
        subject: "Verify your email".into(),
        body: format!(
            "{}\n\nPlease verify your email address by opening this link:\n\n{link}\n\n\
             The link works once and expires in 24 hours.\n",
            hello(name)
        ),
        kind: "verify_email",
    }
}

pub fn password_reset(public_url: &str, name: Option<&str>, token: &str) -> Letter {
    let link = format!(
        "{}/reset-password?token={token}",
        public_url.trim_end_matches('/')
    );
    Letter {
        subject: "Reset your password".into(),
        body: format!(
            "{}\n\nSomeone asked to reset your password. If it was you, open:\n\n{link}\n\n\
             The link works once and expires in 1 hour. If it was not you, ignore this mail.\n",
            hello(name)
        ),
        kind: "reset_password",
    }
}

pub fn password_changed(name: Option<&str>) -> Letter {
    Letter {
        subject: "Your password was changed".into(),
        body: format!(
            "{}\n\nYour password was just changed and every other session was signed out.\n\
             If this was not you, reset your password at once.\n",
            hello(name)
        ),
        kind: "password_changed",
    }
}
