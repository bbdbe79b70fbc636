//! Battery checks (see `battery`) for the server-initiated sync records: device preferences
//! with their schedules, and the alert queue. Run by the same macro on every backend.

use crate::store::alerts::{AlertState, NewAlert};
use crate::store::Store;

const PHONE: &str = "IMEI:356938035643809";
const PC: &str = "pc-0815";

fn alert(user: crate::store::UserId, device: &str, due: i64) -> NewAlert {
    NewAlert {
        user,
        device_id: device.into(),
        datastores: vec!["messages".into()],
        reason: "change".into(),
        created: due - 10,
        due,
    }
}

pub(crate) fn device_prefs_and_schedules(s: &dyn Store) {
    let u = s.create_user("bob", "x").unwrap().id;
    assert_eq!(s.device_prefs(u, PHONE).unwrap(), None);
    s.set_device_prefs(u, PHONE, Some(r#"{"mode":"automatic"}"#), None).unwrap();
    s.set_device_prefs(u, PC, Some(r#"{"mode":"scheduled"}"#), Some(5_000)).unwrap();
    let p = s.device_prefs(u, PHONE).unwrap().unwrap();
    assert_eq!((p.user_name.as_str(), p.prefs.as_str(), p.next_run), ("bob", r#"{"mode":"automatic"}"#, None));
    assert!(s.device(u, PHONE).unwrap().is_some(), "a device with preferences is a known device");
    let all: Vec<String> = s.user_device_prefs(u).unwrap().into_iter().map(|p| p.device_id).collect();
    assert_eq!(all, [PHONE, PC]);
    assert_eq!(s.next_schedule().unwrap(), Some(5_000));
    assert!(s.due_schedules(4_999).unwrap().is_empty());
    assert_eq!(s.due_schedules(5_000).unwrap()[0].device_id, PC);
    s.set_next_run(u, PC, Some(9_000)).unwrap();
    assert!(s.due_schedules(5_000).unwrap().is_empty());
    s.set_device_prefs(u, PHONE, None, None).unwrap();
    assert_eq!(s.device_prefs(u, PHONE).unwrap(), None);
    s.delete_device(u, PC).unwrap();
    assert!(s.user_device_prefs(u).unwrap().is_empty(), "forgotten with the device");
    assert_eq!(s.next_schedule().unwrap(), None);
}

pub(crate) fn alert_queue_lifecycle(s: &dyn Store) {
    let u = s.create_user("bob", "x").unwrap().id;
    let late = s.enqueue_alert(&alert(u, PHONE, 2_000)).unwrap();
    let early = s.enqueue_alert(&alert(u, PC, 1_000)).unwrap();
    assert_ne!(late, early);
    assert_eq!(s.next_alert_due().unwrap(), Some(1_000));
    let due: Vec<i64> = s.due_alerts(1_500, 10).unwrap().into_iter().map(|a| a.id).collect();
    assert_eq!(due, [early]);
    assert_eq!(s.due_alerts(5_000, 1).unwrap()[0].id, early, "earliest first, limited");
    let mut a = s.pending_alert(u, PHONE).unwrap().unwrap();
    assert_eq!(
        (a.id, a.state, a.user_name.as_str(), a.datastores.as_slice()),
        (late, AlertState::Pending, "bob", &["messages".to_string()][..])
    );
    a.datastores.push("content".into());
    a.state = AlertState::Sending;
    a.attempts = 1;
    s.update_alert(&a).unwrap();
    assert_eq!(s.pending_alert(u, PHONE).unwrap(), None, "no longer pending");
    assert_eq!(s.settle_inflight_alerts().unwrap(), 1);
    let phone = s.device_alerts(u, PHONE, 0).unwrap();
    assert_eq!((phone.len(), phone[0].state, phone[0].attempts), (1, AlertState::Unknown, 1));
    assert_eq!(phone[0].datastores, ["messages", "content"]);
    let mut b = s.pending_alert(u, PC).unwrap().unwrap();
    b.state = AlertState::Sent;
    b.sent = Some(1_234);
    s.update_alert(&b).unwrap();
    assert_eq!(s.device_alerts(u, PC, 0).unwrap()[0].sent, Some(1_234));
    assert!(s.device_alerts(u, PC, 991).unwrap().is_empty(), "created before `since`");
    assert_eq!(s.next_alert_due().unwrap(), None);
    b.id = 9_999;
    assert!(s.update_alert(&b).is_err(), "an unknown alert");
    s.delete_user("bob").unwrap();
    assert!(s.due_alerts(i64::MAX, 10).unwrap().is_empty());
}
