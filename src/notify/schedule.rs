//! Clock arithmetic for scheduled sync and quiet hours, in the device's time zone (IANA names
//! through `jiff`, which reads the system's tz database; daylight-saving changes included).
//!
//! Pure functions of a time given by the caller (Unix milliseconds): the scheduler passes its
//! injectable clock, so tests do not wait for midnight.

use jiff::civil::Time;
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

use crate::notify::prefs::Schedule;

/// `HH:MM` from `00:00` to `24:00` as minutes after midnight (1440 for `24:00`).
pub fn parse_hhmm(text: &str) -> Option<u32> {
    let (h, m) = text.trim().split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    match (h, m) {
        (24, 0) => Some(1440),
        (0..=23, 0..=59) => Some(h * 60 + m),
        _ => None,
    }
}

/// The time zone called `name` (`UTC` always exists).
pub fn time_zone(name: &str) -> Option<TimeZone> {
    if name.eq_ignore_ascii_case("utc") {
        return Some(TimeZone::UTC);
    }
    TimeZone::get(name).ok()
}

fn zoned(ms: i64, tz: &TimeZone) -> Option<Zoned> {
    Some(Timestamp::from_millisecond(ms).ok()?.to_zoned(tz.clone()))
}

/// The instant (ms) of `minutes` after midnight on the civil day of `day` in `tz`, the first
/// such instant when a clock change repeats it, the next valid one when it skips it.
fn at_minutes(day: &Zoned, minutes: u32, tz: &TimeZone) -> Option<i64> {
    let date = day.date();
    let date = if minutes >= 1440 { date.tomorrow().ok()? } else { date };
    let m = minutes % 1440;
    let time = Time::new((m / 60) as i8, (m % 60) as i8, 0, 0).ok()?;
    let z = date.to_datetime(time).to_zoned(tz.clone()).ok()?;
    Some(z.timestamp().as_millisecond())
}

/// When `schedule` fires next, strictly after `after` (ms), in the zone `tz`.
pub fn next_run(schedule: &Schedule, tz: &TimeZone, after: i64) -> Option<i64> {
    match schedule {
        Schedule::EveryMinutes(n) => after.checked_add(i64::from(*n).checked_mul(60_000)?),
        Schedule::Daily(at) => {
            let minutes = parse_hhmm(at)?;
            let now = zoned(after, tz)?;
            // Today's time, else tomorrow's (24:00 is tomorrow's 00:00 already).
            let today = at_minutes(&now, minutes, tz)?;
            if today > after {
                return Some(today);
            }
            let tomorrow = now.checked_add(jiff::Span::new().days(1)).ok()?;
            at_minutes(&tomorrow, minutes, tz)
        }
    }
}

/// A daily window such as `22:00-07:00` (it may cross midnight).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    start: u32,
    end: u32,
}

impl Window {
    pub fn parse(text: &str) -> Option<Window> {
        let (a, b) = text.split_once('-')?;
        let (start, end) = (parse_hhmm(a)? % 1440, parse_hhmm(b)? % 1440);
        (start != end).then_some(Window { start, end })
    }

    /// When the window that `at` (ms) falls in ends, in `tz`; `None` when `at` is outside it.
    pub fn ends_after(&self, tz: &TimeZone, at: i64) -> Option<i64> {
        let now = zoned(at, tz)?;
        let minute = now.hour() as u32 * 60 + now.minute() as u32;
        let inside = if self.start < self.end {
            minute >= self.start && minute < self.end
        } else {
            minute >= self.start || minute < self.end
        };
        if !inside {
            return None;
        }
        let end_today = at_minutes(&now, self.end, tz)?;
        if end_today > at {
            return Some(end_today);
        }
        let tomorrow = now.checked_add(jiff::Span::new().days(1)).ok()?;
        at_minutes(&tomorrow, self.end, tz)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(text: &str) -> i64 {
        text.parse::<Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn daily_runs_in_the_device_time_zone() {
        let utc = TimeZone::UTC;
        let daily = |at: &str| Schedule::Daily(at.into());
        assert_eq!(next_run(&daily("24:00"), &utc, ms("2026-11-22T10:00:00Z")), Some(ms("2026-11-23T00:00:00Z")));
        assert_eq!(next_run(&daily("24:00"), &utc, ms("2026-11-23T00:00:00Z")), Some(ms("2026-11-24T00:00:00Z")));
        assert_eq!(next_run(&daily("09:30"), &utc, ms("2026-11-22T09:29:59Z")), Some(ms("2026-11-22T09:30:00Z")));
        assert_eq!(next_run(&daily("09:30"), &utc, ms("2026-11-22T09:30:00Z")), Some(ms("2026-11-23T09:30:00Z")));
        if let Some(berlin) = time_zone("Europe/Berlin") {
            // Midnight in Berlin is 23:00 UTC in winter, 22:00 UTC in summer.
            assert_eq!(
                next_run(&daily("24:00"), &berlin, ms("2026-11-22T10:00:00Z")),
                Some(ms("2026-11-22T23:00:00Z"))
            );
            assert_eq!(
                next_run(&daily("00:00"), &berlin, ms("2026-07-01T10:00:00Z")),
                Some(ms("2026-07-01T22:00:00Z"))
            );
            // 02:30 does not exist on the spring-forward day: the next valid instant.
            let spring = next_run(&daily("02:30"), &berlin, ms("2026-03-29T00:30:00Z")).unwrap();
            assert_eq!(spring, ms("2026-03-29T01:30:00Z"));
        }
        assert_eq!(next_run(&Schedule::EveryMinutes(30), &utc, 1_000), Some(1_801_000));
        assert_eq!(parse_hhmm("7:05"), Some(425));
        assert_eq!(parse_hhmm("24:01"), None);
        assert_eq!(parse_hhmm("12:5"), None);
        assert!(time_zone("Mars/Olympus").is_none());
    }

    #[test]
    fn quiet_windows_cross_midnight() {
        let w = Window::parse("22:00-07:00").unwrap();
        let utc = TimeZone::UTC;
        assert_eq!(w.ends_after(&utc, ms("2026-11-22T23:15:00Z")), Some(ms("2026-11-23T07:00:00Z")));
        assert_eq!(w.ends_after(&utc, ms("2026-11-23T06:59:00Z")), Some(ms("2026-11-23T07:00:00Z")));
        assert_eq!(w.ends_after(&utc, ms("2026-11-23T07:00:00Z")), None);
        assert_eq!(w.ends_after(&utc, ms("2026-11-22T12:00:00Z")), None);
        let day = Window::parse("12:00-13:00").unwrap();
        assert_eq!(day.ends_after(&utc, ms("2026-11-22T12:30:00Z")), Some(ms("2026-11-22T13:00:00Z")));
        assert!(Window::parse("10:00-10:00").is_none() && Window::parse("x").is_none());
    }
}
