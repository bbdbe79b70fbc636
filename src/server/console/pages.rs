//! The console's HTML: one function per page, plain markup with a little inline CSS, every
//! value escaped ([`esc`]) and every path segment percent-encoded ([`url`]).

use std::fmt::Write as _;

use super::activity::{Dumped, SessionRecord};
use super::{ConsoleError, Page, Shared};
use crate::codec::{self, Document, Encoding};
use crate::engine::stats::Flow;
use crate::engine::Quirks;
use crate::store::alerts::AlertState;
use crate::store::{DeviceRecord, User};

/// How many users the overview lists.
const MAX_USERS: usize = 500;

/// Text made safe for HTML (element content and quoted attributes).
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A path segment percent-encoded (device ids hold `:` and `/`).
pub(crate) fn url(segment: &str) -> String {
    let mut out = String::new();
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Unix seconds as `2026-11-22 15:16:47 UTC`.
fn when(secs: i64) -> String {
    match jiff::Timestamp::from_second(secs) {
        Ok(t) => t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string(),
        Err(_) => secs.to_string(),
    }
}

fn when_ms(ms: i64) -> String {
    when(ms.div_euclid(1000))
}

const STYLE: &str = "body{font-family:'DejaVu Sans',sans-serif;margin:0;color:#1b1b1b;background:#fafafa}\
header{background:#243b53;color:#fff;padding:10px 24px;display:flex;gap:24px;align-items:center}\
header a{color:#fff}main{padding:8px 24px 32px}h1{font-size:26px;margin:16px 0 8px}\
h2{font-size:19px;margin:24px 0 8px;border-bottom:1px solid #ccc}\
table{border-collapse:collapse;background:#fff}td,th{border:1px solid #ccc;padding:4px 10px;text-align:left;font-size:15px}\
th{background:#eef1f4}.note{background:#e3f9e5;border:1px solid #8eed96;padding:8px 12px;font-size:17px}\
.warn{background:#fff3c4;border:1px solid #f0b429;padding:8px 12px}.bad{color:#ab091e;font-weight:bold}\
.ok{color:#0e7c2a;font-weight:bold}.big{font-size:20px}dl{display:grid;grid-template-columns:max-content auto;gap:4px 16px}\
dt{font-weight:bold}dd{margin:0}form.inline{display:inline}button{font-size:15px;padding:4px 12px}\
pre{background:#fff;border:1px solid #ccc;padding:8px;overflow:auto;font-size:13px}";

fn layout(title: &str, page: Page<'_>, body: &str) -> String {
    let note = page.note.map(|n| format!("<p class=\"note\" id=\"note\">{}</p>", esc(n))).unwrap_or_default();
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{} - syncgate console</title>\
         <style>{STYLE}</style></head><body><header><strong>syncgate operator console</strong>\
         <a href=\"/console/\">Users and sessions</a><form class=\"inline\" method=\"post\" action=\"/console/logout\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\"><button type=\"submit\">Sign out</button></form></header>\
         <main>{note}{body}</main></body></html>",
        esc(title),
        esc(page.csrf)
    )
}

/// The sign-in form.
pub(crate) fn login(error: Option<&str>) -> String {
    let error = error.map(|e| format!("<p class=\"warn\" id=\"error\">{}</p>", esc(e))).unwrap_or_default();
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign in - syncgate console</title>\
         <style>{STYLE}</style></head><body><header><strong>syncgate operator console</strong></header><main>\
         <h1>Sign in</h1>{error}<form method=\"post\" action=\"/console/login\">\
         <label for=\"token\">Operator token ([api] token)</label><br>\
         <input type=\"password\" id=\"token\" name=\"token\" size=\"40\" autofocus> \
         <button type=\"submit\" id=\"sign-in\">Sign in</button></form></main></body></html>"
    )
}

pub(crate) fn not_found(what: &str, csrf: &str) -> String {
    layout("Not found", Page { csrf, note: None }, &format!("<h1>Not found</h1><p>{}</p>", esc(what)))
}

/// Users with their devices, and the latest sessions of everybody.
pub(crate) fn overview(shared: &Shared, page: Page<'_>) -> Result<String, ConsoleError> {
    let store = shared.engine.store();
    let users = store.list_users()?;
    let mut body = String::from("<h1>Users</h1>");
    if users.is_empty() {
        body.push_str("<p>No users yet: <code>syncgate user add NAME</code> or POST /api/v1/users.</p>");
    } else {
        body.push_str("<table id=\"users\"><tr><th>User</th><th>Devices</th><th>Last sync</th></tr>");
        for u in users.iter().take(MAX_USERS) {
            let devices = store.list_devices(u.id)?;
            let last = devices.iter().filter_map(|d| d.last_sync).max().map_or("never".into(), when);
            let _ = write!(
                body,
                "<tr><td><a href=\"/console/users/{}\">{}</a></td><td>{}</td><td>{}</td></tr>",
                url(&u.name),
                esc(&u.name),
                devices.len(),
                esc(&last)
            );
        }
        body.push_str("</table>");
        if users.len() > MAX_USERS {
            let _ = write!(body, "<p>{} more users not listed.</p>", users.len() - MAX_USERS);
        }
    }
    body.push_str("<h2>Alerts waiting</h2>");
    let waiting = store.due_alerts(i64::MAX, 50)?;
    if waiting.is_empty() {
        body.push_str("<p>None: every queued alert went out or failed.</p>");
    } else {
        body.push_str("<table id=\"waiting\"><tr><th>#</th><th>User</th><th>Device</th><th>Created</th><th>Due</th><th>Attempts</th><th>Last error</th></tr>");
        for a in &waiting {
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td><a href=\"/console/users/{}/devices/{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                a.id,
                esc(&a.user_name),
                url(&a.user_name),
                url(&a.device_id),
                esc(&a.device_id),
                esc(&when_ms(a.created)),
                esc(&when_ms(a.due)),
                a.attempts,
                esc(a.error.as_deref().unwrap_or(""))
            );
        }
        body.push_str("</table>");
    }
    body.push_str("<h2>Recent sessions</h2>");
    body.push_str(&sessions_table(&shared.history.recent(50, |_| true), true));
    Ok(layout("Users", page, &body))
}

/// One user's devices and sessions.
pub(crate) fn user(shared: &Shared, user: &User, page: Page<'_>) -> Result<String, ConsoleError> {
    let store = shared.engine.store();
    let mut body = format!("<h1>User {}</h1><h2>Devices</h2>", esc(&user.name));
    let devices = store.list_devices(user.id)?;
    if devices.is_empty() {
        body.push_str("<p>No device has synced yet.</p>");
    } else {
        body.push_str(
            "<table id=\"devices\"><tr><th>Device</th><th>Last sync</th><th>Preferences</th><th>Wire dump</th></tr>",
        );
        for d in &devices {
            let prefs = store.device_prefs(user.id, &d.device_id)?.map_or("none".into(), |p| prefs_summary(&p.prefs));
            let dump = if shared.dumps.is_on(&user.name, &d.device_id) { "on" } else { "off" };
            let _ = write!(
                body,
                "<tr><td><a href=\"/console/users/{}/devices/{}\">{}</a></td><td>{}</td><td>{}</td><td>{dump}</td></tr>",
                url(&user.name),
                url(&d.device_id),
                esc(&d.device_id),
                esc(&d.last_sync.map_or("never".into(), when)),
                esc(&prefs)
            );
        }
        body.push_str("</table>");
    }
    body.push_str("<h2>Recent sessions</h2>");
    let name = user.name.as_str();
    body.push_str(&sessions_table(&shared.history.recent(50, |r| r.user.as_deref() == Some(name)), false));
    Ok(layout(&user.name, page, &body))
}

/// Everything about one device.
pub(crate) fn device(shared: &Shared, user: &User, rec: &DeviceRecord, page: Page<'_>) -> Result<String, ConsoleError> {
    let store = shared.engine.store();
    let (u, d) = (user.name.as_str(), rec.device_id.as_str());
    let base = format!("/console/users/{}/devices/{}", url(u), url(d));
    let csrf = esc(page.csrf);
    let sessions = shared.history.recent(30, |r| r.user.as_deref() == Some(u) && r.device.as_deref() == Some(d));
    let mut body = format!(
        "<h1>Device <span id=\"device-id\">{}</span></h1><p>of user <a href=\"/console/users/{}\">{}</a></p>",
        esc(d),
        url(u),
        esc(u)
    );

    // Identity and the last sync.
    body.push_str("<h2>Device</h2><dl>");
    let _ = write!(body, "<dt>Last successful sync</dt><dd>{}</dd>", esc(&rec.last_sync.map_or("never".into(), when)));
    if let Some(Document::DevInf(di)) =
        rec.devinf.as_deref().and_then(|b| codec::decode(b, &shared.config.limits).ok()).map(|(_, doc)| doc)
    {
        let show = |v: &Option<String>| esc(v.as_deref().unwrap_or("-"));
        let _ = write!(
            body,
            "<dt>Manufacturer / model</dt><dd>{} / {}</dd><dt>Type</dt><dd>{}</dd><dt>Software</dt><dd>{}</dd>\
             <dt>Large objects</dt><dd>{}</dd>",
            show(&di.man),
            show(&di.mod_),
            esc(&di.dev_typ),
            show(&di.sw_v),
            if di.support_large_objs { "yes" } else { "no" }
        );
    } else {
        body.push_str("<dt>DevInf</dt><dd>not sent yet</dd>");
    }
    let quirks =
        sessions.first().map(|s| if s.quirks.is_empty() { "none (defaults)".to_string() } else { s.quirks.join(", ") });
    let _ = write!(
        body,
        "<dt>Quirks applied</dt><dd id=\"quirks\">{}</dd></dl>",
        esc(&quirks.unwrap_or_else(|| "unknown until its next session".into()))
    );

    // Datastores: anchors and what the next sync will be.
    body.push_str("<h2>Datastores</h2><table id=\"datastores\"><tr><th>Datastore</th><th>Next sync</th><th>Client anchor</th><th>Server anchor</th><th>Synced up to</th><th>Filter</th></tr>");
    let mut any_slow = false;
    for ds in &shared.engine.config().datastores {
        let anchor = store.anchor(user.id, d, &ds.name)?;
        // Without an anchor: slow if the device holds items of it (forced, or anchors lost),
        // else it never synced the datastore (a first sync is slow anyway).
        let next = match &anchor {
            Some(_) => "<span class=\"ok\">two-way</span>",
            None if !store.id_map(user.id, d, &ds.name)?.is_empty() => {
                any_slow = true;
                "<span class=\"bad\">slow</span>"
            }
            None => "never synced",
        };
        let a = anchor.unwrap_or_default();
        let _ = write!(
            body,
            "<tr><td>{}</td><td class=\"next\">{next}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&ds.name),
            esc(&a.client_next),
            esc(&a.server_next),
            a.synced_seq,
            esc(a.filter.as_deref().unwrap_or("-"))
        );
    }
    body.push_str("</table>");
    if any_slow {
        body.push_str("<p class=\"big\" id=\"next-sync\">Next sync: <span class=\"bad\">slow</span> (no anchor for a datastore the device holds items of: every item is compared)</p>");
    } else {
        body.push_str("<p class=\"big\" id=\"next-sync\">Next sync: <span class=\"ok\">normal</span></p>");
    }
    let _ = write!(
        body,
        "<form method=\"post\" action=\"{base}/slow-sync\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <button type=\"submit\" id=\"force-slow-sync\">Force a slow sync</button> \
         (clears the anchors: the device's next session compares every item; nothing is deleted)</form>"
    );

    // Preferences and alerts.
    body.push_str("<h2>Preferences</h2>");
    match store.device_prefs(user.id, d)? {
        Some(p) => {
            let pretty = serde_json::from_str::<serde_json::Value>(&p.prefs)
                .ok()
                .and_then(|v| serde_json::to_string_pretty(&v).ok())
                .unwrap_or(p.prefs.clone());
            let next = p.next_run.map_or("none".into(), when_ms);
            let _ = write!(body, "<p>Next scheduled run: {}</p><pre id=\"prefs\">{}</pre>", esc(&next), esc(&pretty));
        }
        None => body.push_str("<p id=\"prefs\">None: the server never alerts this device.</p>"),
    }
    body.push_str("<h2>Alerts</h2>");
    let mut alerts = store.device_alerts(user.id, d, 0)?;
    alerts.reverse();
    if alerts.is_empty() {
        body.push_str("<p>No alerts.</p>");
    } else {
        body.push_str("<table id=\"alerts\"><tr><th>#</th><th>Created</th><th>Reason</th><th>Datastores</th><th>State</th><th>Attempts</th><th>Sent</th><th>Error</th><th></th></tr>");
        for a in alerts.iter().take(50) {
            let state = match a.state {
                AlertState::Failed | AlertState::Unknown => format!("<span class=\"bad\">{}</span>", a.state.as_str()),
                other => other.as_str().to_string(),
            };
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{state}</td><td>{}</td><td>{}</td><td>{}</td><td>\
                 <form class=\"inline\" method=\"post\" action=\"{base}/alerts/{}/resend\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
                 <button type=\"submit\">Resend</button></form></td></tr>",
                a.id,
                esc(&when_ms(a.created)),
                esc(&a.reason),
                esc(&a.datastores.join(", ")),
                a.attempts,
                esc(&a.sent.map_or("-".into(), when_ms)),
                esc(a.error.as_deref().unwrap_or("")),
                a.id
            );
        }
        body.push_str("</table>");
    }

    body.push_str("<h2>Recent sessions</h2>");
    body.push_str(&sessions_table(&sessions, false));

    // The wire dump.
    let on = shared.dumps.is_on(u, d);
    let _ = write!(
        body,
        "<h2 id=\"dump\">Wire dump: <span id=\"dump-state\">{}</span></h2>\
         <form class=\"inline\" method=\"post\" action=\"{base}/dump\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <input type=\"hidden\" name=\"on\" value=\"{}\"><button type=\"submit\" id=\"dump-switch\">{}</button></form> \
         <form class=\"inline\" method=\"post\" action=\"{base}/dump\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <input type=\"hidden\" name=\"clear\" value=\"1\"><button type=\"submit\">Clear</button></form>\
         <p>Keeps the device's next SyncML messages both ways in memory (the last {}, up to {} bytes each); credentials are hidden when shown.</p>",
        if on { "on" } else { "off" },
        if on { "0" } else { "1" },
        if on { "Switch off" } else { "Switch on" },
        shared.config.console.dump_messages,
        shared.config.console.dump_bytes
    );
    let dumped = shared.dumps.list(u, d);
    if !dumped.is_empty() {
        body.push_str("<table id=\"dumped\"><tr><th>#</th><th>Time</th><th>Session</th><th>Direction</th><th>Encoding</th><th>Bytes</th></tr>");
        for m in dumped.iter().rev() {
            let _ = write!(
                body,
                "<tr><td><a href=\"{base}/dump/{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                m.seq,
                m.seq,
                esc(&when(m.at)),
                esc(&m.sid),
                direction(m.flow),
                encoding(m.encoding),
                m.len
            );
        }
        body.push_str("</table>");
    }
    Ok(layout(&format!("Device {d}"), page, &body))
}

/// One captured message, decoded.
pub(crate) fn dumped(shared: &Shared, user: &str, device: &str, m: &Dumped, page: Page<'_>) -> String {
    let back = format!("/console/users/{}/devices/{}#dump", url(user), url(device));
    let decoded = match codec::decode(&m.bytes, &shared.config.limits) {
        Ok((_, doc)) => match codec::encode(&doc, Encoding::Xml, true) {
            Ok(xml) => hide_credentials(&String::from_utf8_lossy(&xml)),
            Err(e) => format!("(not re-encodable: {e})"),
        },
        Err(e) if m.bytes.len() < m.len => format!("(cut at {} of {} bytes, not decodable: {e})", m.bytes.len(), m.len),
        Err(e) => format!("(not decodable: {e})"),
    };
    let body = format!(
        "<h1>Message {} of {}</h1><p><a href=\"{back}\">Back to the device</a></p><dl><dt>Time</dt><dd>{}</dd>\
         <dt>Session</dt><dd>{}</dd><dt>Direction</dt><dd>{}</dd><dt>Encoding</dt><dd>{}</dd><dt>Bytes</dt><dd>{}{}</dd></dl>\
         <pre id=\"message\">{}</pre>",
        m.seq,
        esc(device),
        esc(&when(m.at)),
        esc(&m.sid),
        direction(m.flow),
        encoding(m.encoding),
        m.len,
        if m.bytes.len() < m.len { format!(" (kept {})", m.bytes.len()) } else { String::new() },
        esc(&decoded)
    );
    layout(&format!("Message {}", m.seq), page, &body)
}

/// `<Cred>…<Data>secret</Data>…</Cred>` → `<Data>(hidden)</Data>`.
fn hide_credentials(xml: &str) -> String {
    let mut out = String::with_capacity(xml.len());
    let mut rest = xml;
    while let Some(start) = rest.find("<Cred>") {
        let Some(end) = rest[start..].find("</Cred>").map(|e| start + e) else { break };
        out.push_str(&rest[..start]);
        let cred = &rest[start..end];
        match (cred.find("<Data>"), cred.find("</Data>")) {
            (Some(a), Some(b)) if a < b => {
                out.push_str(&cred[..a + 6]);
                out.push_str("(hidden)");
                out.push_str(&cred[b..]);
            }
            _ => out.push_str(cred),
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

fn direction(flow: Flow) -> &'static str {
    match flow {
        Flow::FromClient => "device → server",
        Flow::ToClient => "server → device",
    }
}

fn encoding(e: Encoding) -> &'static str {
    match e {
        Encoding::Xml => "XML",
        Encoding::Wbxml => "WBXML",
    }
}

fn prefs_summary(json: &str) -> String {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(json) else { return "unreadable".into() };
    let mode = v.get("mode").and_then(|m| m.as_str()).unwrap_or("?");
    let channel = v.get("channel").and_then(|m| m.as_str()).unwrap_or("no channel");
    format!("{mode}, {channel}")
}

fn sessions_table(records: &[SessionRecord], with_user: bool) -> String {
    if records.is_empty() {
        return "<p>No session since the gateway started.</p>".into();
    }
    let mut t = String::from("<table class=\"sessions\"><tr><th>Ended</th>");
    if with_user {
        t.push_str("<th>User</th><th>Device</th>");
    }
    t.push_str(
        "<th>Session</th><th>Mode</th><th>Outcome</th><th>Messages</th><th>Items in / out</th><th>Statuses</th></tr>",
    );
    for r in records {
        let _ = write!(t, "<tr><td>{}</td>", esc(&when(r.ended)));
        if with_user {
            let user = r.user.as_deref().unwrap_or("?");
            let device = r.device.as_deref().unwrap_or("?");
            let _ = write!(
                t,
                "<td>{}</td><td><a href=\"/console/users/{}/devices/{}\">{}</a></td>",
                esc(user),
                url(user),
                url(device),
                esc(device)
            );
        }
        let outcome = r.outcome.as_str();
        // A challenge is the normal first round of MD5 authentication, not a failure.
        let class = match r.outcome {
            crate::engine::stats::Outcome::Ok => "ok",
            crate::engine::stats::Outcome::Challenged => "",
            _ => "bad",
        };
        let modes: Vec<String> = r.modes.iter().map(|(d, m)| format!("{d}: {m}")).collect();
        let refusals: Vec<String> =
            r.refusals.iter().map(|(k, n)| if *n > 1 { format!("{k} x{n}") } else { k.clone() }).collect();
        let _ = write!(
            t,
            "<td>{}</td><td class=\"mode\" title=\"{}\">{}</td><td class=\"{class}\">{outcome}</td><td>{}</td><td>{} / {}</td><td>{}</td></tr>",
            esc(&r.sid),
            esc(&modes.join(", ")),
            esc(r.mode),
            r.messages,
            r.items_from_client,
            r.items_to_client,
            esc(&refusals.join(", "))
        );
    }
    t.push_str("</table>");
    t
}

/// The switches of `quirks` that differ from the defaults.
pub(crate) fn applied_quirks(quirks: &Quirks) -> Vec<&'static str> {
    let defaults = Quirks::default().switches();
    quirks.switches().into_iter().zip(defaults).filter(|(q, d)| q.1 != d.1).map(|(q, _)| q.0).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_urls() {
        assert_eq!(esc("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
        assert_eq!(url("IMEI:35/1 ä"), "IMEI%3A35%2F1%20%C3%A4");
        assert_eq!(when(0), "1970-01-01 00:00:00 UTC");
    }

    #[test]
    fn credentials_are_hidden() {
        let xml = "<SyncHdr><Cred><Meta><Type>syncml:auth-basic</Type></Meta><Data>YWxpY2U6c2VjcmV0</Data></Cred></SyncHdr><Data>kept</Data>";
        let shown = hide_credentials(xml);
        assert!(!shown.contains("YWxpY2U6c2VjcmV0"), "{shown}");
        assert!(shown.contains("<Data>(hidden)</Data>") && shown.contains("<Data>kept</Data>"), "{shown}");
    }
}
