//! The one integration-test binary: each module is an area.

mod cli;
mod props;
