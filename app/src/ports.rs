//! Every feature's port, for the server that implements them all (and its tests): one `use
//! app::ports::*` brings their methods into scope.

pub use crate::{
    accounts::port::AccountsPort, agents::port::AgentsPort, connectors::port::ConnectorsPort,
    dashboard::port::DashboardPort, inbox::port::InboxPort, privacy::port::PrivacyPort, sharing::port::SharingPort,
};
