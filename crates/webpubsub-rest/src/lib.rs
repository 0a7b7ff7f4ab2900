//! A client for the Azure Web PubSub data-plane REST API.
