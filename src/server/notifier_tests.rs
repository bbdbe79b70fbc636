//! The notifier with the memory store, a hand-set clock and a channel that records what it is
//! given: who is alerted for what, coalescing, quiet hours, the hourly maximum, schedules across
//! a restart, and the signed notification itself.

use std::sync::{Arc, Mutex};

use crate::engine::EngineConfig;
use crate::notify::policy::Policy;
use crate::notify::prefs::{Channel, SyncPrefs};
use crate::notify::san::{self, San, SanSecret};
use crate::server::notifier::{Clock, ManualClock, Notifier, NotifierSettings};
use crate::server::push::longpoll::LongPoll;
use crate::server::push::{DeliverFuture, Delivery, PushEnabler};
use crate::store::memory::MemoryStore;
use crate::store::observed::StoreEvent;
use crate::store::{DeviceRecord, Origin, Store, UserId};

/// Records deliveries (as the webhook channel).
#[derive(Debug, Default)]
struct Recorder(Mutex<Vec<(i64, Delivery)>>, Arc<ManualClock>);

impl PushEnabler for Recorder {
    fn channel(&self) -> Channel {
        Channel::Webhook
    }

    fn deliver<'a>(&'a self, d: &'a Delivery) -> DeliverFuture<'a> {
        Box::pin(async move {
            self.0.lock().unwrap().push((self.1.now_ms(), d.clone()));
            Ok(())
        })
    }
}

fn ms(text: &str) -> i64 {
    text.parse::<jiff::Timestamp>().unwrap().as_millisecond()
}

struct Fixture {
    store: Arc<dyn Store>,
    clock: Arc<ManualClock>,
    rec: Arc<Recorder>,
    notifier: Arc<Notifier>,
    user: UserId,
}

fn fixture(policy: Policy, store: Option<Arc<dyn Store>>, at: i64) -> Fixture {
    let fresh = store.is_none();
    let store = store.unwrap_or_else(|| Arc::new(MemoryStore::new()));
    if fresh {
        store.create_user("alice", &crate::auth::md5_secret("alice", "pw")).unwrap();
    }
    let user = store.user_by_name("alice").unwrap().unwrap().id;
    let clock = Arc::new(ManualClock::new(at));
    let rec = Arc::new(Recorder(Mutex::default(), clock.clone()));
    let settings = NotifierSettings {
        server_id: "syncgate".into(),
        policy,
        max_attempts: 3,
        datastores: EngineConfig::default().datastores,
    };
    let notifier =
        Notifier::new(store.clone(), settings, vec![rec.clone()], Arc::new(LongPoll::default()), clock.clone());
    Fixture { store, clock, rec, notifier, user }
}

impl Fixture {
    fn prefs(&self, device: &str, json: &str) {
        self.notifier.set_prefs(self.user, device, Some(&SyncPrefs::parse(json).unwrap())).unwrap();
    }

    fn change(&self, origin: Origin) {
        let event =
            StoreEvent { user: self.user, datastore: "messages".into(), origin, items: vec![("1".into(), None)] };
        self.notifier.on_event(&event, self.clock.now_ms()).unwrap();
    }

    async fn tick(&self) {
        self.notifier.clone().tick().await.unwrap();
    }

    fn sent_to(&self, device: &str) -> Vec<i64> {
        self.rec.0.lock().unwrap().iter().filter(|(_, d)| d.device == device).map(|(t, _)| *t).collect()
    }
}

const AUTO: &str = r#"{"mode":"automatic","channel":"webhook","datastores":["messages"]}"#;

#[tokio::test]
async fn a_change_alerts_the_other_automatic_devices_once_coalesced() {
    let t0 = ms("2026-11-22T12:00:00Z");
    let f = fixture(Policy::default(), None, t0);
    f.prefs("a", AUTO);
    f.prefs("b", AUTO);
    f.prefs("c", r#"{"mode":"manual"}"#);
    f.prefs("d", r#"{"mode":"automatic","channel":"webhook","datastores":["content"]}"#);
    // The device's nonce signs the notification.
    let mut rec = f.store.device(f.user, "a").unwrap().unwrap();
    rec.nonce = Some(b"the-nonce".to_vec());
    f.store.put_device(f.user, &rec).unwrap();

    f.change(Origin::Device("b".into()));
    f.tick().await;
    assert!(f.sent_to("a").is_empty(), "not before the coalescing window");
    // Fifty deposits within a second: one alert while the window is open, the rest wait.
    for i in 0..50 {
        f.clock.set(t0 + 20 * i);
        f.change(Origin::Service);
        f.tick().await;
    }
    f.clock.set(t0 + 1_000);
    f.tick().await;
    assert_eq!(f.sent_to("a"), [t0 + 100], "one alert, after the coalescing window");
    assert_eq!(f.sent_to("b").len(), 1, "b: only for the service's changes, once");
    assert!(f.sent_to("c").is_empty() && f.sent_to("d").is_empty(), "manual and other datastores: none");
    // The rest went into one pending alert, due after the minimum interval.
    let pending = f.store.pending_alert(f.user, "a").unwrap().unwrap();
    assert_eq!(pending.due, t0 + 100 + 60_000);
    f.clock.set(t0 + 100 + 60_000);
    f.tick().await;
    assert_eq!(f.sent_to("a").len(), 2);

    let (_, first) = f.rec.0.lock().unwrap().iter().find(|(_, d)| d.device == "a").cloned().unwrap();
    let (s, _) = San::decode(&first.san).unwrap();
    assert_eq!((s.server_id.as_str(), s.syncs[0].server_uri.as_str()), ("syncgate", "messages"));
    assert_eq!(s.syncs[0].content_type, 0x0306, "application/vnd.omads-email+xml");
    assert!(san::verify(&first.san, &SanSecret { identity: "alice", password: "pw", nonce: b"the-nonce" }));
    assert!(!san::verify(&first.san, &SanSecret { identity: "alice", password: "pw", nonce: b"" }));
}

#[tokio::test]
async fn quiet_hours_and_the_hourly_maximum_hold() {
    let night = ms("2026-11-22T23:00:00Z");
    let policy = Policy { quiet_hours: Some("22:00-07:00".into()), ..Policy::default() };
    let f = fixture(policy, None, night);
    f.prefs("a", AUTO);
    f.change(Origin::Service);
    f.clock.set(night + 3_600_000);
    f.tick().await;
    assert!(f.sent_to("a").is_empty(), "quiet at midnight");
    let morning = ms("2026-11-23T07:00:00Z");
    f.clock.set(morning);
    f.tick().await;
    assert_eq!(f.sent_to("a"), [morning]);

    let t0 = ms("2026-11-22T12:00:00Z");
    let f = fixture(Policy { min_interval_secs: 0, max_per_hour: 2, ..Policy::default() }, None, t0);
    f.prefs("a", AUTO);
    for i in 0..3 {
        f.clock.set(t0 + i * 1_000);
        f.change(Origin::Service);
        f.clock.set(t0 + i * 1_000 + 500);
        f.tick().await;
    }
    assert_eq!(f.sent_to("a"), [t0 + 500, t0 + 1_500], "two in the hour");
    let pending = f.store.pending_alert(f.user, "a").unwrap().unwrap();
    assert_eq!(pending.due, t0 + 500 + 3_600_000, "the third when the first is an hour old");
}

#[tokio::test]
async fn a_daily_schedule_fires_at_midnight_and_once_after_a_restart_that_missed_it() {
    let start = ms("2026-11-22T10:00:00Z");
    let f = fixture(Policy::default(), None, start);
    f.prefs("pc", r#"{"mode":"scheduled","schedule":{"daily":"24:00"},"channel":"webhook"}"#);
    let next = f.store.device_prefs(f.user, "pc").unwrap().unwrap().next_run;
    assert_eq!(next, Some(ms("2026-11-23T00:00:00Z")));
    f.change(Origin::Service);
    f.clock.set(ms("2026-11-22T23:59:59Z"));
    f.tick().await;
    assert!(f.sent_to("pc").is_empty(), "a scheduled device ignores changes and waits for its time");
    f.clock.set(ms("2026-11-23T00:00:00Z"));
    f.tick().await;
    assert_eq!(f.sent_to("pc"), [ms("2026-11-23T00:00:00Z")]);

    // The gateway is down from 01:00 on the 23rd to noon on the 25th: two midnights missed,
    // one alert when it starts again, and the next one at the next midnight.
    let store = f.store.clone();
    drop(f);
    let g = fixture(Policy::default(), Some(store), ms("2026-11-25T12:00:00Z"));
    g.tick().await;
    g.tick().await;
    assert_eq!(g.sent_to("pc"), [ms("2026-11-25T12:00:00Z")]);
    assert_eq!(g.store.device_prefs(g.user, "pc").unwrap().unwrap().next_run, Some(ms("2026-11-26T00:00:00Z")));
}

#[test]
fn device_record_survives_preferences() {
    let f = fixture(Policy::default(), None, 0);
    f.store
        .put_device(f.user, &DeviceRecord { device_id: "x".into(), nonce: Some(vec![1]), ..Default::default() })
        .unwrap();
    f.prefs("x", AUTO);
    assert_eq!(
        f.store.device(f.user, "x").unwrap().unwrap().nonce,
        Some(vec![1]),
        "setting preferences keeps the nonce"
    );
}

#[test]
fn the_digest_keys_and_the_1_1_form_follow_the_preferences() {
    use crate::notify::legacy::LegacySan;
    use crate::store::alerts::{AlertState, NewAlert};

    let f = fixture(Policy::default(), None, 1_000);
    let id = f
        .store
        .enqueue_alert(&NewAlert {
            user: f.user,
            device_id: "old-phone".into(),
            datastores: vec!["contacts".into()],
            reason: "manual".into(),
            created: 1_000,
            due: 1_000,
        })
        .unwrap();
    let alert = f.store.pending_alert(f.user, "old-phone").unwrap().unwrap();
    assert_eq!((alert.id, alert.state), (id, AlertState::Pending));
    let fixed = SyncPrefs::parse(
        r#"{"mode":"manual","digest":{"identity":"syncgate","password":"push-pw","nonce":"Synthesis"}}"#,
    )
    .unwrap();
    let bytes = f.notifier.build_san(&alert, &fixed).unwrap();
    assert!(san::verify(&bytes, &SanSecret { identity: "syncgate", password: "push-pw", nonce: b"Synthesis" }));
    assert_eq!(San::decode(&bytes).unwrap().0.syncs[0].content_type, 0x0309, "text/vcard as text/directory");

    let legacy = SyncPrefs::parse(r#"{"mode":"manual","san":"1.1"}"#).unwrap();
    let bytes = f.notifier.build_san(&alert, &legacy).unwrap();
    let (_, msg) = crate::codec::decode_message(&bytes, &crate::codec::Limits::default()).unwrap();
    let parsed = LegacySan::from_message(&msg).expect("a 1.1 notification");
    assert_eq!((parsed.syncs[0].server_uri.as_str(), parsed.syncs[0].sync_type.code()), ("contacts", 206));
    assert_eq!(parsed.syncs[0].content_type, "text/vcard");
}

/// Fails the first `fail` deliveries with `error`, then takes them.
#[derive(Debug)]
struct Flaky(Mutex<u32>, crate::server::push::PushError);

impl PushEnabler for Flaky {
    fn channel(&self) -> Channel {
        Channel::Webhook
    }

    fn deliver<'a>(&'a self, _d: &'a Delivery) -> DeliverFuture<'a> {
        Box::pin(async move {
            let mut left = self.0.lock().unwrap();
            if *left > 0 {
                *left -= 1;
                return Err(self.1.clone());
            }
            Ok(())
        })
    }
}

#[tokio::test]
async fn failed_deliveries_are_retried_with_backoff_then_given_up() {
    use crate::server::push::PushError;
    use crate::store::alerts::AlertState;

    for (fail, error, attempts_wanted, state_wanted) in [
        (2, PushError::Retry("busy".into()), 3, AlertState::Sent),
        (9, PushError::Retry("busy".into()), 3, AlertState::Failed),
        (1, PushError::Permanent("no such number".into()), 1, AlertState::Failed),
    ] {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let user = store.create_user("alice", "x").unwrap().id;
        let clock = Arc::new(ManualClock::new(0));
        let settings =
            NotifierSettings { server_id: "s".into(), policy: Policy::default(), max_attempts: 3, datastores: vec![] };
        let flaky = Arc::new(Flaky(Mutex::new(fail), error));
        let n = Notifier::new(store.clone(), settings, vec![flaky], Arc::new(LongPoll::default()), clock.clone());
        n.set_prefs(user, "a", Some(&SyncPrefs::parse(AUTO).unwrap())).unwrap();
        let event = StoreEvent { user, datastore: "messages".into(), origin: Origin::Service, items: vec![] };
        n.on_event(&event, 0).unwrap();
        let mut dues = Vec::new();
        for _ in 0..6 {
            let due = store.next_alert_due().unwrap();
            let Some(due) = due else { break };
            dues.push(due);
            clock.set(due);
            n.clone().tick().await.unwrap();
        }
        let a = store.device_alerts(user, "a", 0).unwrap().remove(0);
        assert_eq!((a.attempts, a.state), (attempts_wanted, state_wanted), "{a:?}");
        if fail == 2 {
            // Due at 100 ms, then 2 s and 4 s later (exponential backoff).
            assert_eq!(dues, [100, 2_100, 6_100]);
        }
    }
}
