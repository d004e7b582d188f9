//! Wall-clock decisions: renewal before expiry, expired factory certificates
//! and the unset clock of a camera that booted without NTP.
//!
//! [`decide_time`] is a pure function of the current time, so tests drive it
//! with any clock. [`WallTimer`] wakes the manager at the next due moment and
//! also when the system clock is set, through a timerfd with
//! `TFD_TIMER_CANCEL_ON_SET`; nothing polls while nothing is due.

use std::os::fd::{AsFd, AsRawFd, RawFd};

use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use time::{Duration, OffsetDateTime};
use tokio::io::unix::AsyncFd;

use crate::store::Origin;

/// The moment this binary was built (`SOURCE_DATE_EPOCH` when set at build
/// time). A clock earlier than this is taken as unset.
pub fn build_time() -> OffsetDateTime {
    let seconds: i64 = env!("CAMCERTD_BUILD_EPOCH").parse().unwrap_or(0);
    OffsetDateTime::from_unix_timestamp(seconds).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Whether `now` is before the build time, as on a camera that booted at
/// 1970 and has not reached an NTP server yet.
pub fn clock_is_unset(now: OffsetDateTime) -> bool {
    now < build_time()
}

/// What the current time means for the served certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeAction {
    /// Nothing to do now.
    Nothing,
    /// The clock is before the build time: serve what exists, issue nothing.
    ClockUnset,
    /// Issue a new certificate: the self-issued one is in its renewal window,
    /// not yet valid, or was issued while the clock was unset.
    Renew,
    /// The factory certificate has expired: a self-signed one takes over.
    ReplaceExpiredFactory,
    /// A certificate camcertd must not replace expires within the window.
    WarnExpiring,
    /// A certificate camcertd must not replace has expired.
    WarnExpired,
}

/// The decision and when to look again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeCheck {
    /// What to do now.
    pub action: TimeAction,
    /// The next moment something becomes due; `None` means only a clock
    /// change or a new certificate can change the decision.
    pub next_due: Option<OffsetDateTime>,
}

/// The certificate facts [`decide_time`] needs.
#[derive(Debug, Clone, Copy)]
pub struct CertificateTimes {
    /// Where the certificate came from.
    pub origin: Origin,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
    /// Whether it was issued while the clock was unset.
    pub issued_with_unset_clock: bool,
}

/// Decides what `now` means for a certificate: renew self-issued ones
/// `renew_before` ahead of not_after, replace an expired factory certificate,
/// warn for the others, and do nothing while the clock is before `build_time`.
///
/// The window is shortened to a third of the certificate's lifetime when that
/// is less, so a certificate issued for fewer days than `renew_before` is not
/// renewed again at once.
pub fn decide_time(
    now: OffsetDateTime,
    build_time: OffsetDateTime,
    certificate: CertificateTimes,
    renew_before: Duration,
) -> TimeCheck {
    let check = |action, next_due| TimeCheck { action, next_due };
    if now < build_time {
        return check(TimeAction::ClockUnset, None);
    }
    let lifetime = certificate.not_after - certificate.not_before;
    let window_start = certificate.not_after - renew_before.min(lifetime / 3);
    match certificate.origin {
        Origin::SelfSigned | Origin::DeviceCa => {
            let not_yet_valid = certificate.not_before > now;
            if certificate.issued_with_unset_clock || not_yet_valid || now >= window_start {
                check(TimeAction::Renew, None)
            } else {
                check(TimeAction::Nothing, Some(window_start))
            }
        }
        Origin::Factory => {
            if now >= certificate.not_after {
                check(TimeAction::ReplaceExpiredFactory, None)
            } else if now >= window_start {
                check(TimeAction::WarnExpiring, Some(certificate.not_after))
            } else {
                check(TimeAction::Nothing, Some(window_start))
            }
        }
        Origin::Uploaded | Origin::Csr => {
            if now >= certificate.not_after {
                check(TimeAction::WarnExpired, None)
            } else if now >= window_start {
                check(TimeAction::WarnExpiring, Some(certificate.not_after))
            } else {
                check(TimeAction::Nothing, Some(window_start))
            }
        }
    }
}

/// Why [`WallTimer::wait`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// The armed moment arrived.
    Due,
    /// The system clock was set, for example by NTP; re-arm and re-check.
    ClockChanged,
}

/// A timerfd on CLOCK_REALTIME, so it wakes at a wall-clock moment even across
/// suspend or clock corrections, and also when the clock is set.
struct TimerHandle(TimerFd);

impl AsRawFd for TimerHandle {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

/// Wakes the manager at the next due moment and when the clock is set.
pub struct WallTimer {
    fd: AsyncFd<TimerHandle>,
}

/// How far ahead the timer is armed when nothing is due, so that it still
/// reports clock changes; `TFD_TIMER_CANCEL_ON_SET` needs an armed timer.
const IDLE_ARM: Duration = Duration::days(365);

impl WallTimer {
    /// Creates an unarmed timer.
    pub fn new() -> std::io::Result<Self> {
        let timer = TimerFd::new(
            ClockId::CLOCK_REALTIME,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )?;
        // `AsyncFd::register` is the unsafe replacement, and this crate
        // forbids unsafe code. Its rule, that the descriptor stays open while
        // registered, is kept because the AsyncFd owns the TimerFd.
        #[allow(deprecated)]
        let fd = AsyncFd::new(TimerHandle(timer))?;
        Ok(Self { fd })
    }

    /// Arms the timer for `at`, or a year ahead when `None`.
    pub fn arm(&self, at: Option<OffsetDateTime>) -> std::io::Result<()> {
        let now = OffsetDateTime::now_utc();
        let at = at
            .unwrap_or(now + IDLE_ARM)
            .max(now + Duration::milliseconds(1));
        let seconds = at.unix_timestamp();
        let nanoseconds = i64::from(at.nanosecond());
        let expiration = Expiration::OneShot(TimeSpec::new(seconds as _, nanoseconds as _));
        let flags =
            TimerSetTimeFlags::TFD_TIMER_ABSTIME | TimerSetTimeFlags::TFD_TIMER_CANCEL_ON_SET;
        self.fd.get_ref().0.set(expiration, flags)?;
        Ok(())
    }

    /// Waits until the armed moment or a clock change.
    pub async fn wait(&self) -> std::io::Result<Wake> {
        loop {
            let mut ready = self.fd.readable().await?;
            let mut count = [0u8; 8];
            match nix::unistd::read(self.fd.get_ref().0.as_fd(), &mut count) {
                Ok(_) => return Ok(Wake::Due),
                Err(nix::Error::ECANCELED) => return Ok(Wake::ClockChanged),
                Err(nix::Error::EAGAIN) => ready.clear_ready(),
                Err(nix::Error::EINTR) => continue,
                Err(error) => return Err(error.into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const WINDOW: Duration = Duration::days(30);

    fn times(
        origin: Origin,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> CertificateTimes {
        CertificateTimes {
            origin,
            not_before,
            not_after,
            issued_with_unset_clock: false,
        }
    }

    #[test]
    fn time_decisions() {
        let built = datetime!(2026-11-01 00:00 UTC);
        let start = datetime!(2026-12-01 00:00 UTC);
        let end = datetime!(2027-12-01 00:00 UTC);
        let window = end - WINDOW;
        let cases = [
            // Camera booted at 1970: nothing is issued.
            (
                "unset clock",
                datetime!(1970-01-01 00:00:10 UTC),
                Origin::SelfSigned,
                TimeAction::ClockUnset,
                None,
            ),
            (
                "self-signed, mid-life",
                datetime!(2027-03-01 00:00 UTC),
                Origin::SelfSigned,
                TimeAction::Nothing,
                Some(window),
            ),
            (
                "self-signed, in window",
                window,
                Origin::SelfSigned,
                TimeAction::Renew,
                None,
            ),
            (
                "self-signed, expired",
                end + Duration::days(3),
                Origin::SelfSigned,
                TimeAction::Renew,
                None,
            ),
            (
                "device-ca, in window",
                window + Duration::days(1),
                Origin::DeviceCa,
                TimeAction::Renew,
                None,
            ),
            (
                "self-signed, clock went back",
                datetime!(2026-11-15 00:00 UTC),
                Origin::SelfSigned,
                TimeAction::Renew,
                None,
            ),
            (
                "factory, mid-life",
                datetime!(2027-03-01 00:00 UTC),
                Origin::Factory,
                TimeAction::Nothing,
                Some(window),
            ),
            (
                "factory, expiring",
                window,
                Origin::Factory,
                TimeAction::WarnExpiring,
                Some(end),
            ),
            (
                "factory, expired",
                end,
                Origin::Factory,
                TimeAction::ReplaceExpiredFactory,
                None,
            ),
            (
                "uploaded, expiring",
                window,
                Origin::Uploaded,
                TimeAction::WarnExpiring,
                Some(end),
            ),
            (
                "uploaded, expired",
                end,
                Origin::Uploaded,
                TimeAction::WarnExpired,
                None,
            ),
            (
                "csr, mid-life",
                datetime!(2027-03-01 00:00 UTC),
                Origin::Csr,
                TimeAction::Nothing,
                Some(window),
            ),
        ];
        for (name, now, origin, action, next_due) in cases {
            let check = decide_time(now, built, times(origin, start, end), WINDOW);
            assert_eq!(check.action, action, "{name}");
            assert_eq!(check.next_due, next_due, "{name}");
        }
    }

    #[test]
    fn certificate_from_unset_clock_is_renewed_once_clock_is_set() {
        let built = datetime!(2026-11-01 00:00 UTC);
        let mut certificate = times(Origin::SelfSigned, built, built + Duration::days(397));
        certificate.issued_with_unset_clock = true;
        let before_ntp = decide_time(datetime!(1970-01-01 00:05 UTC), built, certificate, WINDOW);
        assert_eq!(before_ntp.action, TimeAction::ClockUnset);
        let after_ntp = decide_time(datetime!(2026-12-04 12:00 UTC), built, certificate, WINDOW);
        assert_eq!(after_ntp.action, TimeAction::Renew);
    }

    #[test]
    fn short_certificate_gets_short_window() {
        let built = datetime!(2026-11-01 00:00 UTC);
        let start = datetime!(2026-12-01 00:00 UTC);
        let certificate = times(Origin::SelfSigned, start, start + Duration::days(9));
        let fresh = decide_time(start + Duration::hours(1), built, certificate, WINDOW);
        assert_eq!(fresh.action, TimeAction::Nothing);
        assert_eq!(fresh.next_due, Some(start + Duration::days(6)));
        let late = decide_time(start + Duration::days(6), built, certificate, WINDOW);
        assert_eq!(late.action, TimeAction::Renew);
    }

    #[test]
    fn build_time_is_recent_past() {
        let built = build_time();
        assert!(built > datetime!(2024-01-01 00:00 UTC));
        assert!(!clock_is_unset(OffsetDateTime::now_utc()));
        assert!(clock_is_unset(datetime!(1970-01-01 00:00 UTC)));
    }

    #[tokio::test]
    async fn timer_wakes_when_due() {
        let timer = WallTimer::new().unwrap();
        timer
            .arm(Some(OffsetDateTime::now_utc() + Duration::milliseconds(50)))
            .unwrap();
        let wake = tokio::time::timeout(std::time::Duration::from_secs(5), timer.wait()).await;
        assert_eq!(wake.expect("timer fired in time").unwrap(), Wake::Due);
    }
}
