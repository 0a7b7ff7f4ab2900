//! The `webpubsub-emulator` command.
fn main() {}
