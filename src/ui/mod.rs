//! The full-screen front end. It follows the rules of the house (ARCHITECTURE.md): it
//! builds a view from Events, draws it, and will answer with Commands; it never
//! touches infra, the journal or the network.
//!
//! - `view`: the view state, pure, fed by Events and by the live-panel samples;
//! - `theme`: colours and glyphs, with a `mono` theme for `NO_COLOR`;
//! - `keymap`: the one table of keys, from which the key bar and help are made;
//! - `widgets`: one file per part of the screen; `layout` puts them together.

mod apply;
#[cfg(test)]
mod fixture;
pub mod input;
pub mod keymap;
mod layout;
pub mod logbuf;
pub mod panels;
pub mod resume;
pub mod status;
pub mod step_view;
pub mod theme;
pub mod view;
#[cfg(test)]
mod view_tests;
pub mod widgets;

pub use layout::{MIN_HEIGHT, MIN_WIDTH, draw};
pub use status::StepState;
pub use theme::{Theme, ThemeName};
pub use view::{ConfigSummary, ViewState};
