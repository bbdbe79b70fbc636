//! Building one reply message: header, CmdID numbering, statuses in the order commands arrived;
//! with the `status_per_command` quirk, the item statuses of one command folded into one.

pub(crate) use crate::codec::estimate;
use crate::proto::{Chal, CmdName, Command, Header, Message, Source, Status, StatusCode, Target};

/// A reply under construction.
#[derive(Debug)]
pub(crate) struct ReplyBuilder {
    pub(crate) msg: Message,
    next_cmd_id: u32,
    /// MsgID of the message being answered (MsgRef of every status).
    msg_ref: u32,
    /// Quirk `status_per_command`: fold the per-item statuses of a command into one at
    /// [`ReplyBuilder::finish`].
    pub(crate) status_per_command: bool,
}

impl ReplyBuilder {
    /// A reply to `incoming` with the server's header (`msg_id` is the server's counter).
    pub(crate) fn new(incoming: &Header, version: crate::proto::Version, msg_id: u32, resp_uri: Option<&str>) -> Self {
        let header = Header {
            ver_dtd: version.ver_dtd().into(),
            ver_proto: version.ver_proto().into(),
            session_id: incoming.session_id.clone(),
            msg_id,
            target: Target { loc_uri: incoming.source.loc_uri.clone(), loc_name: None, filter: None },
            source: Source::uri(incoming.target.loc_uri.clone()),
            resp_uri: resp_uri.map(str::to_string),
            ..Default::default()
        };
        ReplyBuilder {
            msg: Message { version, header, body: Vec::new(), final_: false },
            next_cmd_id: 1,
            msg_ref: incoming.msg_id,
            status_per_command: false,
        }
    }

    /// The MsgID of the message being answered.
    pub(crate) fn msg_ref(&self) -> u32 {
        self.msg_ref
    }

    pub(crate) fn cmd_id(&mut self) -> u32 {
        let id = self.next_cmd_id;
        self.next_cmd_id += 1;
        id
    }

    /// Appends a command, giving it the next CmdID.
    pub(crate) fn push(&mut self, mut cmd: Command) {
        let id = self.cmd_id();
        cmd.set_cmd_id(id);
        self.msg.body.push(cmd);
    }

    /// The status of the SyncHdr: must be the first thing added.
    pub(crate) fn header_status(&mut self, incoming: &Header, code: StatusCode, chal: Option<Chal>) {
        let id = self.cmd_id();
        self.msg.body.push(Command::Status(Status {
            cmd_id: id,
            msg_ref: Some(incoming.msg_id),
            cmd_ref: 0,
            cmd: CmdName::SyncHdr,
            target_refs: vec![incoming.target.loc_uri.clone()],
            source_refs: vec![incoming.source.loc_uri.clone()],
            cred: None,
            chal,
            data: code,
            items: Vec::new(),
        }));
    }

    /// A status for a command.
    pub(crate) fn status(&mut self, cmd_ref: u32, cmd: CmdName, code: StatusCode) -> &mut Status {
        let id = self.cmd_id();
        self.msg.body.push(Command::Status(Status {
            cmd_id: id,
            msg_ref: Some(self.msg_ref),
            cmd_ref,
            cmd,
            target_refs: Vec::new(),
            source_refs: Vec::new(),
            cred: None,
            chal: None,
            data: code,
            items: Vec::new(),
        }));
        match self.msg.body.last_mut() {
            Some(Command::Status(s)) => s,
            // Invariant: a Status was pushed on the line above.
            _ => unreachable!("status just pushed"),
        }
    }

    pub(crate) fn finish(mut self, final_: bool) -> Message {
        self.msg.final_ = final_;
        if self.status_per_command && fold_item_statuses(&mut self.msg.body) {
            let mut next = 1;
            renumber(&mut self.msg.body, &mut next);
        }
        self.msg
    }

    /// Rough encoded size of the body so far (for MaxMsgSize decisions).
    pub(crate) fn body_len(&self) -> usize {
        self.msg.body.iter().map(estimate).sum()
    }
}

/// Folds adjacent statuses of the same item command (same CmdRef, command and code, no Chal
/// or Items) into one carrying all their SourceRefs and TargetRefs (PROTOCOL.md §2 notes: legal,
/// and what Horde's `omitIndividualSyncStatus` clients expect). Returns whether any was folded.
fn fold_item_statuses(body: &mut Vec<Command>) -> bool {
    let foldable = |s: &Status| {
        matches!(s.cmd, CmdName::Add | CmdName::Replace | CmdName::Delete | CmdName::Copy | CmdName::Move)
            && s.chal.is_none()
            && s.items.is_empty()
    };
    let before = body.len();
    let mut out: Vec<Command> = Vec::with_capacity(before);
    for cmd in body.drain(..) {
        if let (Some(Command::Status(prev)), Command::Status(st)) = (out.last_mut(), &cmd) {
            let same = (prev.msg_ref, prev.cmd_ref, &prev.cmd, prev.data) == (st.msg_ref, st.cmd_ref, &st.cmd, st.data);
            if same && foldable(prev) && foldable(st) {
                prev.source_refs.extend(st.source_refs.iter().cloned());
                prev.target_refs.extend(st.target_refs.iter().cloned());
                continue;
            }
        }
        out.push(cmd);
    }
    *body = out;
    body.len() != before
}

/// Gives `cmds` (and the commands inside their Syncs) consecutive CmdIDs from `next`.
fn renumber(cmds: &mut [Command], next: &mut u32) {
    for c in cmds {
        c.set_cmd_id(*next);
        *next += 1;
        if let Command::Sync(sync) = c {
            renumber(&mut sync.commands, next);
        }
    }
}

/// Renumbers the commands inside a Sync with fresh CmdIDs from the builder.
pub(crate) fn number_children(b: &mut ReplyBuilder, cmds: &mut [Command]) {
    for c in cmds {
        let id = b.cmd_id();
        c.set_cmd_id(id);
    }
}
