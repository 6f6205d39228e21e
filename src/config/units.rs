//! The human-written units of the configuration: durations (`"30s"`), sizes (`"2MiB"`) and rates
//! (`"100/15m"`).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

pub mod duration {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(deserializer)?;
        humantime::parse_duration(&text).map_err(serde::de::Error::custom)
    }
}

/// An optional duration: `""` or `"0s"` turns the thing off.
pub mod duration_opt {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text.trim().is_empty() {
            return Ok(None);
        }
        let value = humantime::parse_duration(&text).map_err(serde::de::Error::custom)?;
        Ok((!value.is_zero()).then_some(value))
    }
}

/// A size in bytes, written `"2MiB"`, `"512KiB"`, `"100kB"` or a bare number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub usize);

impl FromStr for ByteSize {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let number: usize = number
            .parse()
            .map_err(|_| format!("`{text}` is not a size like \"2MiB\""))?;
        let factor = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "kb" => 1_000,
            "kib" | "k" => 1 << 10,
            "mb" => 1_000_000,
            "mib" | "m" => 1 << 20,
            "gb" => 1_000_000_000,
            "gib" | "g" => 1 << 30,
            other => return Err(format!("unknown size unit `{other}` in `{text}`")),
        };
        number
            .checked_mul(factor)
            .map(ByteSize)
            .ok_or_else(|| format!("`{text}` is too large"))
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A request budget per client, written `"100/15m"`: at most 100 requests in any 15-minute window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateSpec {
    pub requests: u32,
    pub window: Duration,
}

impl FromStr for RateSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || format!("`{text}` is not a rate like \"100/15m\"");
        let (requests, window) = text.split_once('/').ok_or_else(invalid)?;
        let requests: u32 = requests.trim().parse().map_err(|_| invalid())?;
        let window = humantime::parse_duration(window.trim()).map_err(|_| invalid())?;
        if requests == 0 || window.is_zero() {
            return Err(invalid());
        }
        Ok(RateSpec { requests, window })
    }
}

impl fmt::Display for RateSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}",
            self.requests,
            humantime::format_duration(self.window)
        )
    }
}

impl<'de> Deserialize<'de> for RateSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_and_decimal_units() {
        assert_eq!("2MiB".parse::<ByteSize>(), Ok(ByteSize(2 * 1024 * 1024)));
        assert_eq!("100kB".parse::<ByteSize>(), Ok(ByteSize(100_000)));
        assert_eq!("17".parse::<ByteSize>(), Ok(ByteSize(17)));
        assert!("2 parsecs".parse::<ByteSize>().is_err());
        assert!("MiB".parse::<ByteSize>().is_err());
    }

    #[test]
    fn rates_parse_requests_over_a_window() {
        let rate: RateSpec = "100/15m".parse().unwrap();
        assert_eq!(rate.requests, 100);
        assert_eq!(rate.window, Duration::from_secs(900));
        assert!("0/1m".parse::<RateSpec>().is_err());
        assert!("100".parse::<RateSpec>().is_err());
        assert!("x/1m".parse::<RateSpec>().is_err());
    }
}

/// Daily hours written `"09:00-18:00"`: when appointments may start and end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpeningHours {
    pub open: chrono::NaiveTime,
    pub close: chrono::NaiveTime,
}

impl FromStr for OpeningHours {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || format!("`{text}` is not opening hours like \"09:00-18:00\"");
        let (open, close) = text.split_once('-').ok_or_else(invalid)?;
        let time = |part: &str| chrono::NaiveTime::parse_from_str(part.trim(), "%H:%M");
        let (open, close) = (
            time(open).map_err(|_| invalid())?,
            time(close).map_err(|_| invalid())?,
        );
        if open >= close {
            return Err(invalid());
        }
        Ok(OpeningHours { open, close })
    }
}

impl<'de> Deserialize<'de> for OpeningHours {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}
