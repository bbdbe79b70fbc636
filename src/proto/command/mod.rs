//! The SyncML commands, one file each, and [`Command`], the enum over all of them.
//!
//! One `Command` type serves the SyncBody, Sync, Atomic and Sequence alike: the codec accepts
//! any command anywhere the XML allows a command, and the engine answers misplaced ones.

mod add;
mod alert;
mod atomic;
mod copy;
mod delete;
mod exec;
mod get;
mod map;
mod move_;
mod put;
mod replace;
mod results;
mod search;
mod sequence;
mod status;
mod sync;

pub use add::Add;
pub use alert::Alert;
pub use atomic::Atomic;
pub use copy::Copy;
pub use delete::Delete;
pub use exec::Exec;
pub use get::Get;
pub use map::{Map, MapItem};
pub use move_::Move;
pub use put::Put;
pub use replace::Replace;
pub use results::Results;
pub use search::Search;
pub use sequence::Sequence;
pub use status::{CmdName, Status};
pub use sync::Sync;

/// Any SyncML command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Add(Add),
    Alert(Alert),
    Atomic(Atomic),
    Copy(Copy),
    Delete(Delete),
    /// Boxed: rare and large.
    Exec(Box<Exec>),
    Get(Get),
    Map(Map),
    Move(Move),
    Put(Put),
    Replace(Replace),
    Results(Results),
    /// Boxed: rare and large.
    Search(Box<Search>),
    Sequence(Sequence),
    Status(Status),
    Sync(Sync),
}

impl Command {
    /// The command's CmdID.
    pub fn cmd_id(&self) -> u32 {
        match self {
            Command::Add(c) => c.cmd_id,
            Command::Alert(c) => c.cmd_id,
            Command::Atomic(c) => c.cmd_id,
            Command::Copy(c) => c.cmd_id,
            Command::Delete(c) => c.cmd_id,
            Command::Exec(c) => c.cmd_id,
            Command::Get(c) => c.cmd_id,
            Command::Map(c) => c.cmd_id,
            Command::Move(c) => c.cmd_id,
            Command::Put(c) => c.cmd_id,
            Command::Replace(c) => c.cmd_id,
            Command::Results(c) => c.cmd_id,
            Command::Search(c) => c.cmd_id,
            Command::Sequence(c) => c.cmd_id,
            Command::Status(c) => c.cmd_id,
            Command::Sync(c) => c.cmd_id,
        }
    }

    /// Sets the command's CmdID.
    pub fn set_cmd_id(&mut self, id: u32) {
        match self {
            Command::Add(c) => c.cmd_id = id,
            Command::Alert(c) => c.cmd_id = id,
            Command::Atomic(c) => c.cmd_id = id,
            Command::Copy(c) => c.cmd_id = id,
            Command::Delete(c) => c.cmd_id = id,
            Command::Exec(c) => c.cmd_id = id,
            Command::Get(c) => c.cmd_id = id,
            Command::Map(c) => c.cmd_id = id,
            Command::Move(c) => c.cmd_id = id,
            Command::Put(c) => c.cmd_id = id,
            Command::Replace(c) => c.cmd_id = id,
            Command::Results(c) => c.cmd_id = id,
            Command::Search(c) => c.cmd_id = id,
            Command::Sequence(c) => c.cmd_id = id,
            Command::Status(c) => c.cmd_id = id,
            Command::Sync(c) => c.cmd_id = id,
        }
    }

    /// The command's element name, as a Status's `Cmd` names it.
    pub fn name(&self) -> CmdName {
        match self {
            Command::Add(_) => CmdName::Add,
            Command::Alert(_) => CmdName::Alert,
            Command::Atomic(_) => CmdName::Atomic,
            Command::Copy(_) => CmdName::Copy,
            Command::Delete(_) => CmdName::Delete,
            Command::Exec(_) => CmdName::Exec,
            Command::Get(_) => CmdName::Get,
            Command::Map(_) => CmdName::Map,
            Command::Move(_) => CmdName::Move,
            Command::Put(_) => CmdName::Put,
            Command::Replace(_) => CmdName::Replace,
            Command::Results(_) => CmdName::Results,
            Command::Search(_) => CmdName::Search,
            Command::Sequence(_) => CmdName::Sequence,
            Command::Status(_) => CmdName::Status,
            Command::Sync(_) => CmdName::Sync,
        }
    }
}
