//! A local emulator of the Azure Web PubSub service.
