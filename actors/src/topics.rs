//! Who may hold which topic: `domains` and `brands` any signed-in user, `users` and `appointments`
//! admins, `user:<id>` that user and admins.

/// What a session's user may see, settled when the socket was opened.
#[derive(Debug, Clone)]
pub struct Grants {
    pub user_id: String,
    pub admin: bool,
    /// The sign-in session whose token opened the socket, when known.
    pub login_session: Option<String>,
}

const OPEN: [&str; 3] = ["domains", "brands", "catalog"];
const ADMIN_ONLY: [&str; 2] = ["users", "appointments"];
const USER_PREFIX: &str = "user:";

impl Grants {
    pub fn may_hold(&self, topic: &str) -> bool {
        if OPEN.contains(&topic) {
            return true;
        }
        if ADMIN_ONLY.contains(&topic) {
            return self.admin;
        }
        match topic.strip_prefix(USER_PREFIX) {
            Some(id) if !id.is_empty() => self.admin || id == self.user_id,
            _ => false,
        }
    }

    /// The topics a session starts on: all it may hold, its own `user:<id>` among them.
    pub fn initial_topics(&self) -> Vec<String> {
        let mut topics: Vec<String> = OPEN.iter().map(|topic| topic.to_string()).collect();
        if self.admin {
            topics.extend(ADMIN_ONLY.iter().map(|topic| topic.to_string()));
        }
        topics.push(format!("{USER_PREFIX}{}", self.user_id));
        topics
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(admin: bool) -> Grants {
        Grants {
            login_session: None,
            user_id: "u1".into(),
            admin,
        }
    }

    #[test]
    fn users_hold_the_open_topics_and_their_own() {
        let grants = user(false);
        assert!(grants.may_hold("domains"));
        assert!(grants.may_hold("user:u1"));
        assert!(!grants.may_hold("user:u2"));
        assert!(!grants.may_hold("users"));
        assert!(!grants.may_hold("appointments"));
        assert!(!grants.may_hold("user:"));
        assert!(!grants.may_hold("anything"));
        assert_eq!(
            grants.initial_topics(),
            ["domains", "brands", "catalog", "user:u1"]
        );
    }

    #[test]
    fn admins_hold_every_topic() {
        let grants = user(true);
        assert!(grants.may_hold("users"));
        assert!(grants.may_hold("user:u2"));
        assert!(!grants.may_hold("anything"));
        assert_eq!(grants.initial_topics().len(), 6);
    }
}
