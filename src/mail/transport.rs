//! Where mails go: an SMTP server (lettre), or, with no `smtp.host`, `.eml` files under `mail.dir`
//! with their links logged, so a person running `hub dev` can follow them.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use lettre::message::{header::ContentType, Mailbox};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use uuid::Uuid;

use crate::config::{MailSettings, SmtpSettings, SmtpTls};

pub enum Transport {
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        from: Mailbox,
    },
    Files {
        dir: PathBuf,
        from: Mailbox,
    },
}

pub struct StoredMail {
    pub id: Uuid,
    pub to: String,
    pub subject: String,
    pub body: String,
}

impl Transport {
    pub fn from_settings(smtp: &SmtpSettings, mail: &MailSettings) -> anyhow::Result<Self> {
        let from: Mailbox = smtp.from.parse().context("smtp.from is not a mailbox")?;
        if smtp.host.is_empty() {
            return Ok(Transport::Files {
                dir: mail.dir.clone(),
                from,
            });
        }
        let mut builder = match smtp.tls {
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host),
            SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host)?,
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host)?,
        }
        .port(smtp.port)
        .timeout(Some(Duration::from_secs(20)));
        if !smtp.username.is_empty() {
            builder = builder.credentials(Credentials::new(
                smtp.username.clone(),
                smtp.password.clone(),
            ));
        }
        Ok(Transport::Smtp {
            transport: builder.build(),
            from,
        })
    }

    pub async fn send(&self, mail: &StoredMail) -> anyhow::Result<()> {
        let from = match self {
            Transport::Smtp { from, .. } | Transport::Files { from, .. } => from.clone(),
        };
        let to: Mailbox = mail.to.parse().context("recipient is not a mailbox")?;
        let message = Message::builder()
            .from(from)
            .to(to)
            .subject(&mail.subject)
            .message_id(Some(format!("<{}@hub>", mail.id)))
            .header(ContentType::TEXT_PLAIN)
            .body(mail.body.clone())
            .context("building the message")?;
        match self {
            Transport::Smtp { transport, .. } => {
                transport.send(message).await.context("SMTP")?;
            }
            Transport::Files { dir, .. } => {
                tokio::fs::create_dir_all(dir).await?;
                let path = dir.join(format!("{}.eml", mail.id));
                tokio::fs::write(&path, message.formatted()).await?;
                let links: Vec<&str> = mail
                    .body
                    .split_whitespace()
                    .filter(|word| word.starts_with("http://") || word.starts_with("https://"))
                    .collect();
                tracing::info!(to = %mail.to, subject = %mail.subject, path = %path.display(), ?links, "mail written");
            }
        }
        Ok(())
    }
}
