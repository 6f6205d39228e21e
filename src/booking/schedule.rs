//! When appointments can happen: `booking.opening_hours` every day, start times on the
//! `booking.slot_minutes` grid, all read in `booking.timezone`; stored in UTC.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

use crate::config::{BookingSettings, OpeningHours};
use crate::error::{AppError, AppResult};

#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub timezone: Tz,
    pub hours: OpeningHours,
    pub slot_minutes: u32,
}

/// A booked span, `[starts, ends)`.
pub type Span = (DateTime<Utc>, DateTime<Utc>);

impl Schedule {
    pub fn new(settings: &BookingSettings) -> Self {
        Schedule {
            timezone: settings.timezone,
            hours: settings.opening_hours,
            slot_minutes: settings.slot_minutes,
        }
    }

    pub fn parse_date(raw: &str) -> AppResult<NaiveDate> {
        NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
            .map_err(|_| AppError::invalid("date", "date must be YYYY-MM-DD"))
    }

    pub fn parse_time(raw: &str) -> AppResult<NaiveTime> {
        NaiveTime::parse_from_str(raw.trim(), "%H:%M")
            .map_err(|_| AppError::invalid("time", "time must be HH:MM"))
    }

    fn utc(&self, local: NaiveDateTime) -> AppResult<DateTime<Utc>> {
        self.timezone
            .from_local_datetime(&local)
            .single()
            .map(|time| time.with_timezone(&Utc))
            .ok_or_else(|| {
                AppError::invalid("time", "This local time does not exist or is ambiguous")
            })
    }

    /// Start times run every `slot_minutes` from opening.
    fn on_grid(&self, time: NaiveTime) -> bool {
        let minutes = (time - self.hours.open).num_minutes();
        time.second() == 0 && minutes >= 0 && (minutes as u32).is_multiple_of(self.slot_minutes)
    }

    /// The span of a booking starting at `date` `time` (local) for `minutes`, if it is one the
    /// schedule allows at `now`: on the grid, inside opening hours, not in the past.
    pub fn span(
        &self,
        date: NaiveDate,
        time: NaiveTime,
        minutes: i64,
        now: DateTime<Utc>,
    ) -> AppResult<Span> {
        if !self.on_grid(time) {
            return Err(AppError::invalid(
                "time",
                format!("Appointments start every {} minutes", self.slot_minutes),
            ));
        }
        let ends_local = time.overflowing_add_signed(Duration::minutes(minutes));
        if time < self.hours.open || ends_local.1 != 0 || ends_local.0 > self.hours.close {
            return Err(AppError::invalid(
                "time",
                format!(
                    "Appointments start and end within opening hours, {}-{}",
                    self.hours.open.format("%H:%M"),
                    self.hours.close.format("%H:%M")
                ),
            ));
        }
        let starts = self.utc(date.and_time(time))?;
        if starts <= now {
            return Err(AppError::invalid("time", "This time has passed"));
        }
        Ok((starts, starts + Duration::minutes(minutes)))
    }

    /// The day's UTC bounds (opening to closing) of local `date`.
    pub fn day(&self, date: NaiveDate) -> AppResult<Span> {
        Ok((
            self.utc(date.and_time(self.hours.open))?,
            self.utc(date.and_time(self.hours.close))?,
        ))
    }

    /// The start times (`"HH:MM"`, local) on `date` at which `minutes` fit, given the `busy`
    /// spans of the expert that day.
    pub fn free_starts(
        &self,
        date: NaiveDate,
        minutes: i64,
        busy: &[Span],
        now: DateTime<Utc>,
    ) -> Vec<String> {
        let mut starts = Vec::new();
        let mut time = self.hours.open;
        let step = Duration::minutes(i64::from(self.slot_minutes));
        loop {
            if let Ok((from, to)) = self.span(date, time, minutes, now) {
                if busy
                    .iter()
                    .all(|(taken_from, taken_to)| to <= *taken_from || from >= *taken_to)
                {
                    starts.push(time.format("%H:%M").to_string());
                }
            }
            let (next, wrapped) = time.overflowing_add_signed(step);
            if wrapped != 0 || next >= self.hours.close || next <= time {
                break;
            }
            time = next;
        }
        starts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule() -> Schedule {
        Schedule {
            timezone: chrono_tz::Asia::Jakarta,
            hours: "09:00-18:00".parse().unwrap(),
            slot_minutes: 30,
        }
    }

    #[test]
    fn a_booking_fits_the_grid_and_the_hours_in_local_time() {
        let schedule = schedule();
        let date = NaiveDate::from_ymd_opt(2030, 1, 2).unwrap();
        let now = Utc::now();
        let nine = NaiveTime::from_hms_opt(9, 0, 0).unwrap();
        let (starts, ends) = schedule.span(date, nine, 60, now).unwrap();
        assert_eq!(starts.to_rfc3339(), "2030-01-02T02:00:00+00:00");
        assert_eq!(ends - starts, Duration::minutes(60));
        let off_grid = NaiveTime::from_hms_opt(9, 15, 0).unwrap();
        assert!(schedule.span(date, off_grid, 60, now).is_err());
        let late = NaiveTime::from_hms_opt(17, 30, 0).unwrap();
        assert!(schedule.span(date, late, 60, now).is_err());
        assert!(schedule.span(date, late, 30, now).is_ok());
        let past = NaiveDate::from_ymd_opt(2020, 1, 2).unwrap();
        assert!(schedule.span(past, nine, 60, now).is_err());
    }

    #[test]
    fn free_starts_leave_out_what_is_taken() {
        let schedule = schedule();
        let date = NaiveDate::from_ymd_opt(2030, 1, 2).unwrap();
        let now = Utc::now();
        let ten = NaiveTime::from_hms_opt(10, 0, 0).unwrap();
        let busy = vec![schedule.span(date, ten, 60, now).unwrap()];
        let starts = schedule.free_starts(date, 60, &busy, now);
        assert_eq!(starts.first().map(String::as_str), Some("09:00"));
        assert!(!starts.contains(&"09:30".to_owned()));
        assert!(!starts.contains(&"10:00".to_owned()));
        assert!(!starts.contains(&"10:30".to_owned()));
        assert!(starts.contains(&"11:00".to_owned()));
        assert_eq!(starts.last().map(String::as_str), Some("17:00"));
    }
}
