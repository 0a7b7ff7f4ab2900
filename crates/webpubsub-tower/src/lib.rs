//! A tower `Layer` for the Azure Web PubSub event-handler protocol.
