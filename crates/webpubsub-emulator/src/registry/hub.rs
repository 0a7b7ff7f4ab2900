//! One hub: its connections, the user and group indexes, and every operation on them.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use webpubsub_protocol::{
    filter::{FilterSubject, ParsedFilter},
    token::Permission,
};

use super::{
    MAX_GROUPS_PER_CONNECTION, RegistryError,
    budget::BudgetState,
    delivery::{Message, Offered, Outbound, Pressure, Queue, QueueState},
    roles::Role,
    validate_group,
};

/// What a connection is, given when it registers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ConnectionInfo {
    /// The connection id, unique in the hub.
    pub(crate) connection_id: String,
    /// The user id, `None` for an anonymous connection.
    pub(crate) user_id: Option<String>,
    /// The client subprotocol (`json.webpubsub.azure.v1`, …), `None` for a plain client. Read by
    /// the `protocol` of filters.
    pub(crate) protocol: Option<String>,
    /// The roles from the token and the connect response (`webpubsub.joinLeaveGroup.room`, …).
    pub(crate) roles: Vec<String>,
    /// The groups joined at once (the token's `webpubsub.group` and the connect response).
    pub(crate) groups: Vec<String>,
}

/// One connection of a group listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupMember {
    /// The connection id.
    pub(crate) connection_id: String,
    /// Its user id.
    pub(crate) user_id: Option<String>,
}

/// One page of a group listing, in connection-id order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupPage {
    /// The members on this page.
    pub(crate) members: Vec<GroupMember>,
    /// The connection id to continue after, when more members follow.
    pub(crate) continue_after: Option<String>,
}

/// One hub. Cheap to clone; clones share the state.
#[derive(Debug, Clone)]
pub(crate) struct Hub {
    inner: Arc<HubInner>,
}

#[derive(Debug)]
struct HubInner {
    budget: Arc<BudgetState>,
    state: Mutex<HubState>,
}

#[derive(Debug, Default)]
struct HubState {
    connections: HashMap<String, Entry>,
    users: HashMap<String, Members>,
    groups: HashMap<String, Members>,
}

/// The connections of a user or a group by id, each with its queue: a broadcast walks the index
/// and offers to each queue without looking the id up. Looking up each member's entry cost 290 of
/// the 510 instructions a broadcast spends per recipient (callgrind, benches/emulator_fanout.sh).
type Members = BTreeMap<String, Queue>;

#[derive(Debug)]
struct Entry {
    user_id: Option<String>,
    protocol: Option<String>,
    roles: Vec<Role>,
    groups: HashSet<String>,
    /// Permissions granted through REST; `None` as the group means every group.
    grants: HashSet<(Permission, Option<String>)>,
    /// Permissions revoked through REST, as the service keeps them: a deny entry per group (or
    /// for every group with `None`) that overrides what the roles allow.
    denies: HashSet<(Permission, Option<String>)>,
    queue: Queue,
}

/// Whom a send goes to.
#[derive(Debug, Clone, Copy)]
enum Target<'a> {
    All,
    User(&'a str),
    Group(&'a str),
    Connection(&'a str),
}

/// A connection seen by a filter.
struct Subject<'a> {
    id: &'a str,
    entry: &'a Entry,
}

impl FilterSubject for Subject<'_> {
    fn connection_id(&self) -> &str {
        self.id
    }
    fn user_id(&self) -> Option<&str> {
        self.entry.user_id.as_deref()
    }
    fn protocol(&self) -> Option<&str> {
        self.entry.protocol.as_deref()
    }
    fn in_group(&self, group: &str) -> bool {
        self.entry.groups.contains(group)
    }
    fn group_count(&self) -> usize {
        self.entry.groups.len()
    }
}

fn selected(id: &str, entry: &Entry, excluded: &[&str], filter: Option<&ParsedFilter>) -> bool {
    !excluded.contains(&id) && filter.is_none_or(|filter| filter.matches(&Subject { id, entry }))
}

impl HubState {
    /// Whether the hub holds nothing: no connection, and no index left behind by one.
    fn is_empty(&self) -> bool {
        self.connections.is_empty() && self.users.is_empty() && self.groups.is_empty()
    }

    /// Adds connection `id` to `group`; `false` when it was in it, is unknown, or is in
    /// [`MAX_GROUPS_PER_CONNECTION`] groups already.
    fn join(&mut self, group: &str, id: &str) -> bool {
        let Some(entry) = self.connections.get_mut(id) else {
            return false;
        };
        if entry.groups.len() >= MAX_GROUPS_PER_CONNECTION && !entry.groups.contains(group) {
            return false;
        }
        let joined = entry.groups.insert(group.to_owned());
        if joined {
            self.groups
                .entry(group.to_owned())
                .or_default()
                .insert(id.to_owned(), entry.queue.clone());
        }
        joined
    }

    fn leave(&mut self, group: &str, id: &str) -> bool {
        let Some(entry) = self.connections.get_mut(id) else {
            return false;
        };
        let left = entry.groups.remove(group);
        if left {
            remove_from_index(&mut self.groups, group, id);
        }
        left
    }

    fn leave_all(&mut self, id: &str) -> bool {
        let Some(entry) = self.connections.get_mut(id) else {
            return false;
        };
        let groups = std::mem::take(&mut entry.groups);
        for group in &groups {
            remove_from_index(&mut self.groups, group, id);
        }
        !groups.is_empty()
    }

    fn remove(&mut self, id: &str) -> Option<Entry> {
        let entry = self.connections.remove(id)?;
        if let Some(user) = &entry.user_id {
            remove_from_index(&mut self.users, user, id);
        }
        for group in &entry.groups {
            remove_from_index(&mut self.groups, group, id);
        }
        Some(entry)
    }

    fn user_connections(&self, user_id: &str) -> Vec<String> {
        self.users
            .get(user_id)
            .map(|members| members.keys().cloned().collect())
            .unwrap_or_default()
    }

    fn group_connections(&self, group: &str) -> Vec<String> {
        self.groups
            .get(group)
            .map(|members| members.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The connections of `target` and their queues, borrowed (a broadcast copies no ids).
    fn recipients<'a>(
        &'a self,
        target: Target<'a>,
    ) -> Box<dyn Iterator<Item = (&'a str, &'a Queue)> + 'a> {
        let members = |index: Option<&'a Members>| {
            index
                .into_iter()
                .flatten()
                .map(|(id, queue)| (id.as_str(), queue))
        };
        match target {
            Target::All => Box::new(
                self.connections
                    .iter()
                    .map(|(id, entry)| (id.as_str(), &entry.queue)),
            ),
            Target::User(user) => Box::new(members(self.users.get(user))),
            Target::Group(group) => Box::new(members(self.groups.get(group))),
            Target::Connection(id) => Box::new(
                self.connections
                    .get_key_value(id)
                    .map(|(id, entry)| (id.as_str(), &entry.queue))
                    .into_iter(),
            ),
        }
    }

    /// Queues `message` for each connection of `target` that is selected; drops connections
    /// that cannot take it. Returns how many got it.
    fn deliver(
        &mut self,
        target: Target<'_>,
        message: &Arc<Message>,
        budget: &BudgetState,
        excluded: &[&str],
        filter: Option<&ParsedFilter>,
    ) -> (usize, Pressure) {
        let mut delivered = 0;
        let mut pressure = Pressure::default();
        let mut dropped = Vec::new();
        for (id, queue) in self.recipients(target) {
            // Only a filter needs the connection's entry.
            let chosen = match filter {
                None => !excluded.contains(&id),
                Some(filter) => self
                    .connections
                    .get(id)
                    .is_some_and(|entry| selected(id, entry, excluded, Some(filter))),
            };
            if !chosen {
                continue;
            }
            match queue.offer(message, budget) {
                Offered::Queued => delivered += 1,
                Offered::Congested => {
                    delivered += 1;
                    pressure.add(queue.state.clone());
                }
                Offered::Dropped => dropped.push(id.to_owned()),
            }
        }
        for id in dropped {
            tracing::warn!(connection_id = %id, "dropping a connection that cannot keep up");
            self.remove(&id);
        }
        (delivered, pressure)
    }

    /// Forgets each of `ids` (minus `excluded`) and tells it to close.
    fn close<'a>(
        &mut self,
        ids: impl IntoIterator<Item = &'a str>,
        reason: Option<&str>,
        excluded: &[&str],
    ) -> usize {
        let mut closed = 0;
        for id in ids {
            if excluded.contains(&id) {
                continue;
            }
            if let Some(entry) = self.remove(id) {
                entry.queue.close(reason.map(str::to_owned));
                closed += 1;
            }
        }
        closed
    }
}

fn remove_from_index(index: &mut HashMap<String, Members>, key: &str, id: &str) {
    if let Some(ids) = index.get_mut(key) {
        ids.remove(id);
        if ids.is_empty() {
            index.remove(key);
        }
    }
}

impl Hub {
    pub(super) fn new(budget: Arc<BudgetState>) -> Self {
        Self {
            inner: Arc::new(HubInner {
                budget,
                state: Mutex::default(),
            }),
        }
    }

    /// Whether anything still uses the hub: a handle besides the registry's, or any state.
    /// Every piece of state REST can set (group memberships, user indexes, permission grants
    /// and denies) lives in a connection's entry and goes with it, as the `connect` token's
    /// groups do; a hub forgotten when it holds none loses nothing.
    pub(super) fn in_use(&self) -> bool {
        Arc::strong_count(&self.inner) > 1 || !self.state().is_empty()
    }

    fn state(&self) -> MutexGuard<'_, HubState> {
        // Every critical section leaves the state consistent before it can panic, so a poisoned
        // lock still guards valid data.
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a connection and joins its initial groups. The guard unregisters it when
    /// dropped; the [`Outbound`] receives what is sent to it.
    pub(crate) fn register(
        &self,
        info: ConnectionInfo,
    ) -> Result<(ConnectionGuard, Outbound), RegistryError> {
        let distinct: HashSet<&String> = info.groups.iter().collect();
        if distinct.len() > MAX_GROUPS_PER_CONNECTION {
            return Err(RegistryError::TooManyGroups(info.connection_id.clone()));
        }
        for group in &info.groups {
            validate_group(group)?;
        }
        let (queue, outbound) = Queue::new(&self.inner.budget.limits);
        let registration = queue.state.clone();
        let mut state = self.state();
        if state.connections.contains_key(&info.connection_id) {
            return Err(RegistryError::DuplicateConnection(info.connection_id));
        }
        let id = info.connection_id;
        if let Some(user) = &info.user_id {
            state
                .users
                .entry(user.clone())
                .or_default()
                .insert(id.clone(), queue.clone());
        }
        let entry = Entry {
            user_id: info.user_id,
            protocol: info.protocol,
            roles: info.roles.iter().map(|role| Role::parse(role)).collect(),
            groups: HashSet::new(),
            grants: HashSet::new(),
            denies: HashSet::new(),
            queue,
        };
        state.connections.insert(id.clone(), entry);
        for group in &info.groups {
            state.join(group, &id);
        }
        drop(state);
        let guard = ConnectionGuard {
            hub: self.clone(),
            connection_id: id,
            registration,
        };
        Ok((guard, outbound))
    }

    /// Sends to every connection except `excluded` that `filter` selects. Returns how many
    /// connections got the message.
    ///
    /// Sends never wait: a recipient whose queue would pass its byte budget is dropped instead
    /// (see [`OutboundBudget`](super::OutboundBudget)).
    pub(crate) fn send_to_all(
        &self,
        message: Message,
        excluded: &[&str],
        filter: Option<&ParsedFilter>,
    ) -> usize {
        self.send(Target::All, message, excluded, filter).0
    }

    /// Sends to every connection of `user_id` that `filter` selects.
    pub(crate) fn send_to_user(
        &self,
        user_id: &str,
        message: Message,
        filter: Option<&ParsedFilter>,
    ) -> usize {
        self.send(Target::User(user_id), message, &[], filter).0
    }

    /// Sends to one connection. Returns whether it got the message.
    pub(crate) fn send_to_connection(&self, connection_id: &str, message: Message) -> bool {
        self.send(Target::Connection(connection_id), message, &[], None)
            .0
            == 1
    }

    /// Sends to every connection in `group` except `excluded` that `filter` selects (a client's
    /// `noEcho` send excludes itself).
    pub(crate) fn send_to_group(
        &self,
        group: &str,
        message: Message,
        excluded: &[&str],
        filter: Option<&ParsedFilter>,
    ) -> usize {
        self.send(Target::Group(group), message, excluded, filter).0
    }

    /// [`send_to_group`](Self::send_to_group) for a sender that can wait: also returns the
    /// recipients now above their high-water mark. A client session stops reading its socket
    /// until [`Pressure::relieved`] resolves, so a burst slows the sender down instead of
    /// overflowing the queues of clients that read at full speed.
    pub(crate) fn send_to_group_paced(
        &self,
        group: &str,
        message: Message,
        excluded: &[&str],
    ) -> (usize, Pressure) {
        self.send(Target::Group(group), message, excluded, None)
    }

    fn send(
        &self,
        target: Target<'_>,
        message: Message,
        excluded: &[&str],
        filter: Option<&ParsedFilter>,
    ) -> (usize, Pressure) {
        let budget = &self.inner.budget;
        let message = message.charged(budget);
        // The message's last reference may be dropped under the lock; that is only a counter.
        self.state()
            .deliver(target, &message, budget, excluded, filter)
    }

    /// `message`, counted in the process's outbound budget while it lives: for what a session
    /// keeps that did not come through the registry (an upstream's answer to a reliable client).
    pub(crate) fn charged(&self, message: Message) -> Arc<Message> {
        message.charged(&self.inner.budget)
    }

    /// Whether the process holds more undelivered and unacknowledged bytes than its budget.
    pub(crate) fn over_budget(&self) -> bool {
        self.inner.budget.over_total()
    }

    /// The process's outbound budgets.
    pub(crate) fn budget(&self) -> &super::OutboundBudget {
        &self.inner.budget.limits
    }

    /// Adds a connection to a group. Returns whether it newly joined.
    pub(crate) fn add_connection_to_group(
        &self,
        group: &str,
        connection_id: &str,
    ) -> Result<bool, RegistryError> {
        validate_group(group)?;
        let mut state = self.state();
        let Some(entry) = state.connections.get(connection_id) else {
            return Err(RegistryError::ConnectionNotFound(connection_id.to_owned()));
        };
        if entry.groups.len() >= MAX_GROUPS_PER_CONNECTION && !entry.groups.contains(group) {
            return Err(RegistryError::TooManyGroups(connection_id.to_owned()));
        }
        Ok(state.join(group, connection_id))
    }

    /// Removes a connection from a group. Returns whether it was in it.
    pub(crate) fn remove_connection_from_group(&self, group: &str, connection_id: &str) -> bool {
        self.state().leave(group, connection_id)
    }

    /// Removes a connection from every group. Returns whether it was in any.
    pub(crate) fn remove_connection_from_all_groups(&self, connection_id: &str) -> bool {
        self.state().leave_all(connection_id)
    }

    /// Adds every connection of a user to a group. Fails when the user has no connection (as
    /// the service does). Returns how many connections newly joined.
    pub(crate) fn add_user_to_group(
        &self,
        group: &str,
        user_id: &str,
    ) -> Result<usize, RegistryError> {
        validate_group(group)?;
        let mut state = self.state();
        let ids = state.user_connections(user_id);
        if ids.is_empty() {
            return Err(RegistryError::UserNotFound(user_id.to_owned()));
        }
        Ok(ids.iter().filter(|id| state.join(group, id)).count())
    }

    /// Removes every connection of a user from a group. Returns how many left.
    pub(crate) fn remove_user_from_group(&self, group: &str, user_id: &str) -> usize {
        let mut state = self.state();
        let ids = state.user_connections(user_id);
        ids.iter().filter(|id| state.leave(group, id)).count()
    }

    /// Removes every connection of a user from every group. Returns how many left any.
    pub(crate) fn remove_user_from_all_groups(&self, user_id: &str) -> usize {
        let mut state = self.state();
        let ids = state.user_connections(user_id);
        ids.iter().filter(|id| state.leave_all(id)).count()
    }

    /// Adds every connection that `filter` selects (all without one) to each of `groups`.
    /// Returns how many connections were selected.
    pub(crate) fn add_to_groups(
        &self,
        groups: &[String],
        filter: Option<&ParsedFilter>,
    ) -> Result<usize, RegistryError> {
        self.for_each_selected(groups, filter, HubState::join)
    }

    /// Removes every connection that `filter` selects (all without one) from each of `groups`.
    /// Returns how many connections were selected.
    pub(crate) fn remove_from_groups(
        &self,
        groups: &[String],
        filter: Option<&ParsedFilter>,
    ) -> Result<usize, RegistryError> {
        self.for_each_selected(groups, filter, HubState::leave)
    }

    fn for_each_selected(
        &self,
        groups: &[String],
        filter: Option<&ParsedFilter>,
        apply: fn(&mut HubState, &str, &str) -> bool,
    ) -> Result<usize, RegistryError> {
        for group in groups {
            validate_group(group)?;
        }
        let mut state = self.state();
        // Select first, then change: a filter on `groups` sees the membership from before.
        let ids: Vec<String> = state
            .connections
            .iter()
            .filter(|(id, entry)| selected(id, entry, &[], filter))
            .map(|(id, _)| id.clone())
            .collect();
        for id in &ids {
            for group in groups {
                apply(&mut state, group, id);
            }
        }
        Ok(ids.len())
    }

    /// Closes every connection except `excluded`. Returns how many were closed.
    pub(crate) fn close_all(&self, reason: Option<&str>, excluded: &[&str]) -> usize {
        let mut state = self.state();
        let ids: Vec<String> = state.connections.keys().cloned().collect();
        state.close(ids.iter().map(String::as_str), reason, excluded)
    }

    /// Closes every connection of a user except `excluded`.
    pub(crate) fn close_user(
        &self,
        user_id: &str,
        reason: Option<&str>,
        excluded: &[&str],
    ) -> usize {
        let mut state = self.state();
        let ids = state.user_connections(user_id);
        state.close(ids.iter().map(String::as_str), reason, excluded)
    }

    /// Closes every connection in a group except `excluded`.
    pub(crate) fn close_group(
        &self,
        group: &str,
        reason: Option<&str>,
        excluded: &[&str],
    ) -> usize {
        let mut state = self.state();
        let ids = state.group_connections(group);
        state.close(ids.iter().map(String::as_str), reason, excluded)
    }

    /// Closes one connection. Returns whether it existed.
    pub(crate) fn close_connection(&self, connection_id: &str, reason: Option<&str>) -> bool {
        self.state().close([connection_id], reason, &[]) == 1
    }

    /// Whether a connection is registered.
    pub(crate) fn connection_exists(&self, connection_id: &str) -> bool {
        self.state().connections.contains_key(connection_id)
    }

    /// Whether a user has a connection.
    pub(crate) fn user_exists(&self, user_id: &str) -> bool {
        self.state().users.contains_key(user_id)
    }

    /// Whether a group has a connection.
    pub(crate) fn group_exists(&self, group: &str) -> bool {
        self.state().groups.contains_key(group)
    }

    /// Grants `permission` on `group` (`None`: every group) to a connection.
    pub(crate) fn grant_permission(
        &self,
        connection_id: &str,
        permission: Permission,
        group: Option<&str>,
    ) -> Result<(), RegistryError> {
        let mut state = self.state();
        let entry = state
            .connections
            .get_mut(connection_id)
            .ok_or_else(|| RegistryError::ConnectionNotFound(connection_id.to_owned()))?;
        let group = group.map(str::to_owned);
        if group.is_none() {
            entry.denies.retain(|(denied, _)| *denied != permission);
        }
        entry.denies.remove(&(permission, group.clone()));
        entry.grants.insert((permission, group));
        Ok(())
    }

    /// Revokes `permission` on `group` (`None`: every group), whether a grant or a role gave it:
    /// as in the service, a deny entry overrides the roles' allow-all until a later grant.
    /// Returns whether a grant existed.
    pub(crate) fn revoke_permission(
        &self,
        connection_id: &str,
        permission: Permission,
        group: Option<&str>,
    ) -> bool {
        let mut state = self.state();
        let Some(entry) = state.connections.get_mut(connection_id) else {
            return false;
        };
        let group = group.map(str::to_owned);
        let existed = entry.grants.remove(&(permission, group.clone()));
        if group.is_none() {
            entry.grants.retain(|(granted, _)| *granted != permission);
            entry.denies.retain(|(denied, _)| *denied != permission);
        }
        entry.denies.insert((permission, group));
        existed
    }

    /// Whether a connection holds `permission` on `group` (on every group with `None`), by a
    /// role (`webpubsub.joinLeaveGroup`, `webpubsub.sendToGroup.<group>`, …) or a REST grant.
    pub(crate) fn has_permission(
        &self,
        connection_id: &str,
        permission: Permission,
        group: Option<&str>,
    ) -> bool {
        let state = self.state();
        let Some(entry) = state.connections.get(connection_id) else {
            return false;
        };
        let on_group = group.map(|group| (permission, Some(group.to_owned())));
        // The most specific entry wins: the group's own deny or grant, then every group's.
        if let Some(key) = &on_group {
            if entry.denies.contains(key) {
                return false;
            }
            if entry.grants.contains(key) {
                return true;
            }
        } else if entry.denies.iter().any(|(denied, _)| *denied == permission) {
            // A deny on any group means the permission is not held on every group.
            return false;
        }
        if entry.denies.contains(&(permission, None)) {
            return false;
        }
        entry.grants.contains(&(permission, None))
            || entry
                .roles
                .iter()
                .any(|role| role.grants(permission, group))
    }

    /// Up to `limit` members of a group, in connection-id order, after the connection id
    /// `after` (exclusive) when given.
    pub(crate) fn group_members(
        &self,
        group: &str,
        after: Option<&str>,
        limit: usize,
    ) -> GroupPage {
        use std::ops::Bound;
        let state = self.state();
        let Some(members) = state.groups.get(group) else {
            return GroupPage {
                members: Vec::new(),
                continue_after: None,
            };
        };
        let start = after.map_or(Bound::Unbounded, |after| Bound::Excluded(after.to_owned()));
        let mut range = members.range::<String, _>((start, Bound::Unbounded));
        let members: Vec<GroupMember> = range
            .by_ref()
            .take(limit)
            .map(|(id, _)| GroupMember {
                connection_id: id.clone(),
                user_id: state
                    .connections
                    .get(id)
                    .and_then(|entry| entry.user_id.clone()),
            })
            .collect();
        let more = range.next().is_some();
        let continue_after = more
            .then(|| members.last().map(|m| m.connection_id.clone()))
            .flatten();
        GroupPage {
            members,
            continue_after,
        }
    }
}

/// Keeps a connection registered; unregisters it when dropped.
#[derive(Debug)]
pub(crate) struct ConnectionGuard {
    hub: Hub,
    connection_id: String,
    /// Identifies this registration, so a guard never removes a later connection that reuses
    /// the id.
    registration: Arc<QueueState>,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        let mut state = self.hub.state();
        let ours = state
            .connections
            .get(&self.connection_id)
            .is_some_and(|entry| Arc::ptr_eq(&entry.queue.state, &self.registration));
        if ours {
            state.remove(&self.connection_id);
        }
    }
}

#[cfg(test)]
impl HubState {
    /// Each index lists exactly the connections that name it, each with the connection's own
    /// queue (a stale copy would deliver to a connection the hub forgot).
    fn assert_consistent(&self) {
        let listed = |index: &HashMap<String, Members>, key: &str, id: &str, entry: &Entry| {
            index
                .get(key)
                .and_then(|members| members.get(id))
                .is_some_and(|queue| Arc::ptr_eq(&queue.state, &entry.queue.state))
        };
        for (id, entry) in &self.connections {
            assert!(
                entry
                    .groups
                    .iter()
                    .all(|g| listed(&self.groups, g, id, entry))
            );
            if let Some(user) = &entry.user_id {
                assert!(listed(&self.users, user, id, entry));
            }
        }
        let memberships: usize = self.connections.values().map(|e| e.groups.len()).sum();
        assert_eq!(
            self.groups.values().map(Members::len).sum::<usize>(),
            memberships
        );
        let users = self.connections.values().filter(|e| e.user_id.is_some());
        assert_eq!(
            self.users.values().map(Members::len).sum::<usize>(),
            users.count()
        );
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;

    use super::*;
    use crate::registry::{
        DataType, Delivery, MAX_GROUPS_PER_CONNECTION, Origin, OutboundBudget, Pressure, Registry,
        budget::{DEFAULT_MAX_CONNECTION_BYTES, DEFAULT_MAX_TOTAL_BYTES, ITEM_OVERHEAD_BYTES},
        delivery::{OVER_BUDGET_REASON, QUEUE_FULL_REASON},
    };

    fn info(id: &str, user: Option<&str>) -> ConnectionInfo {
        ConnectionInfo {
            connection_id: id.into(),
            user_id: user.map(Into::into),
            ..Default::default()
        }
    }

    /// A registry whose queues hold `n` one-byte messages.
    fn holding(n: usize) -> Registry {
        Registry::with_budget(OutboundBudget {
            max_connection_bytes: n * (1 + ITEM_OVERHEAD_BYTES),
            ..OutboundBudget::default()
        })
    }

    fn text(data: &'static str) -> Message {
        Message::new(
            Bytes::from_static(data.as_bytes()),
            DataType::Text,
            Origin::Server,
        )
    }

    async fn next(outbound: &mut Outbound) -> Option<Delivery> {
        tokio::time::timeout(Duration::from_secs(5), outbound.recv())
            .await
            .expect("a delivery within 5 s")
    }

    /// What is queued right now, without waiting.
    fn queued(outbound: &mut Outbound) -> Vec<Delivery> {
        let mut items = Vec::new();
        while let Some(Some(item)) = outbound.recv().now_or_never() {
            items.push(item);
        }
        items
    }

    trait NowOrNever: std::future::Future + Sized {
        fn now_or_never(self) -> Option<Self::Output> {
            let waker = std::task::Waker::noop();
            let mut cx = std::task::Context::from_waker(waker);
            let mut future = std::pin::pin!(self);
            match future.as_mut().poll(&mut cx) {
                std::task::Poll::Ready(output) => Some(output),
                std::task::Poll::Pending => None,
            }
        }
    }
    impl<F: std::future::Future> NowOrNever for F {}

    fn texts(items: &[Delivery]) -> Vec<&[u8]> {
        items
            .iter()
            .filter_map(|item| match item {
                Delivery::Message(message) => Some(message.data.as_ref()),
                Delivery::Close { .. } => None,
            })
            .collect()
    }

    #[tokio::test]
    async fn hub_names_are_case_insensitive_and_shared() {
        let registry = Registry::new();
        let (_guard, mut outbound) = registry.hub("Chat").register(info("c1", None)).unwrap();
        assert_eq!(registry.hub("chat").send_to_all(text("a"), &[], None), 1);
        assert_eq!(registry.hub("other").send_to_all(text("b"), &[], None), 0);
        assert_eq!(texts(&queued(&mut outbound)), [b"a"]);
    }

    #[tokio::test]
    async fn every_send_target_with_excluded_and_filter() {
        let hub = Registry::new().hub("h");
        let (_g1, mut c1) = hub.register(info("c1", Some("alice"))).unwrap();
        let (_g2, mut c2) = hub.register(info("c2", Some("alice"))).unwrap();
        let (_g3, mut c3) = hub
            .register(ConnectionInfo {
                groups: vec!["room".into()],
                ..info("c3", None)
            })
            .unwrap();
        hub.add_connection_to_group("room", "c1").unwrap();

        assert_eq!(hub.send_to_all(text("all"), &["c2"], None), 2);
        let filter = ParsedFilter::parse("userId eq 'ALICE' and connectionId ne 'c1'").unwrap();
        assert_eq!(hub.send_to_all(text("filtered"), &[], Some(&filter)), 1);
        assert_eq!(hub.send_to_user("alice", text("user"), None), 2);
        assert_eq!(
            hub.send_to_user("Alice", text("nobody"), None),
            0,
            "user ids are exact outside filters"
        );
        assert!(hub.send_to_connection("c3", text("conn")));
        assert!(!hub.send_to_connection("c9", text("missing")));
        assert_eq!(hub.send_to_group("room", text("group"), &["c3"], None), 1);
        let in_room = ParsedFilter::parse("'room' in groups").unwrap();
        assert_eq!(hub.send_to_all(text("room filter"), &[], Some(&in_room)), 2);

        assert_eq!(
            texts(&queued(&mut c1)),
            [&b"all"[..], b"user", b"group", b"room filter"]
        );
        assert_eq!(texts(&queued(&mut c2)), [&b"filtered"[..], b"user"]);
        assert_eq!(
            texts(&queued(&mut c3)),
            [&b"all"[..], b"conn", b"room filter"]
        );
    }

    #[tokio::test]
    async fn group_membership_of_connections_and_users() {
        let hub = Registry::new().hub("h");
        let (_g1, _c1) = hub.register(info("c1", Some("u"))).unwrap();
        let (_g2, _c2) = hub.register(info("c2", Some("u"))).unwrap();
        assert_eq!(
            hub.add_connection_to_group("g", "c9"),
            Err(RegistryError::ConnectionNotFound("c9".into()))
        );
        assert_eq!(
            hub.add_connection_to_group(" ", "c1"),
            Err(RegistryError::InvalidGroup(" ".into()))
        );
        assert!(hub.add_connection_to_group("g", "c1").unwrap());
        assert!(!hub.add_connection_to_group("g", "c1").unwrap());
        assert!(hub.group_exists("g"));
        assert_eq!(hub.add_user_to_group("g", "u").unwrap(), 1);
        assert_eq!(
            hub.add_user_to_group("g", "nobody"),
            Err(RegistryError::UserNotFound("nobody".into()))
        );
        assert_eq!(hub.remove_user_from_group("g", "u"), 2);
        assert!(!hub.group_exists("g"));
        hub.add_user_to_group("a", "u").unwrap();
        hub.add_connection_to_group("b", "c2").unwrap();
        assert_eq!(hub.remove_user_from_all_groups("u"), 2);
        assert!(!hub.group_exists("a") && !hub.group_exists("b"));
        hub.add_connection_to_group("a", "c1").unwrap();
        assert!(hub.remove_connection_from_all_groups("c1"));
        assert!(!hub.remove_connection_from_all_groups("c1"));
        assert!(!hub.remove_connection_from_group("a", "c1"));
    }

    #[tokio::test]
    async fn add_and_remove_by_filter() {
        let hub = Registry::new().hub("h");
        let (_g1, _c1) = hub.register(info("c1", Some("listener-1"))).unwrap();
        let (_g2, _c2) = hub.register(info("c2", Some("speaker"))).unwrap();
        let listeners = ParsedFilter::parse("startswith(userId, 'listener-')").unwrap();
        assert_eq!(
            hub.add_to_groups(&["a".into(), "b".into()], Some(&listeners))
                .unwrap(),
            1
        );
        assert_eq!(hub.group_members("a", None, 10).members.len(), 1);
        assert_eq!(hub.add_to_groups(&["a".into()], None).unwrap(), 2);
        let in_b = ParsedFilter::parse("'b' in groups").unwrap();
        assert_eq!(
            hub.remove_from_groups(&["a".into(), "b".into()], Some(&in_b))
                .unwrap(),
            1
        );
        assert_eq!(
            hub.group_members("a", None, 10).members,
            [GroupMember {
                connection_id: "c2".into(),
                user_id: Some("speaker".into())
            }]
        );
        assert!(!hub.group_exists("b"));
        assert!(hub.add_to_groups(&[String::new()], None).is_err());
    }

    #[tokio::test]
    async fn close_operations_forget_the_connection_and_queue_the_close_last() {
        let hub = Registry::new().hub("h");
        let (_g1, mut c1) = hub.register(info("c1", Some("u"))).unwrap();
        let (_g2, mut c2) = hub.register(info("c2", Some("u"))).unwrap();
        let (_g3, mut c3) = hub
            .register(ConnectionInfo {
                groups: vec!["g".into()],
                ..info("c3", None)
            })
            .unwrap();
        let (_g4, mut c4) = hub.register(info("c4", None)).unwrap();
        hub.send_to_connection("c1", text("before"));
        assert_eq!(hub.close_user("u", Some("bye"), &["c2"]), 1);
        assert!(
            !hub.connection_exists("c1") && hub.connection_exists("c2") && hub.user_exists("u")
        );
        assert_eq!(texts(&[next(&mut c1).await.unwrap()]), [b"before"]);
        assert_eq!(
            next(&mut c1).await,
            Some(Delivery::Close {
                reason: Some("bye".into())
            })
        );
        assert_eq!(next(&mut c1).await, None);

        assert_eq!(hub.close_group("g", None, &[]), 1);
        assert_eq!(next(&mut c3).await, Some(Delivery::Close { reason: None }));
        assert!(!hub.group_exists("g"));
        assert!(hub.close_connection("c2", Some("r")));
        assert!(!hub.close_connection("c2", Some("r")));
        assert!(!hub.user_exists("u"));
        assert_eq!(
            next(&mut c2).await,
            Some(Delivery::Close {
                reason: Some("r".into())
            })
        );
        assert_eq!(hub.close_all(None, &["c4"]), 0);
        assert_eq!(hub.close_all(Some("all"), &[]), 1);
        assert_eq!(
            next(&mut c4).await,
            Some(Delivery::Close {
                reason: Some("all".into())
            })
        );
    }

    #[tokio::test]
    async fn a_full_queue_drops_that_connection_only() {
        let hub = holding(2).hub("h");
        let (_slow_guard, mut slow) = hub.register(info("slow", None)).unwrap();
        let (_fast_guard, mut fast) = hub.register(info("fast", None)).unwrap();
        assert_eq!(hub.send_to_all(text("1"), &[], None), 2);
        assert_eq!(texts(&[next(&mut fast).await.unwrap()]), [b"1"]);
        assert_eq!(hub.send_to_all(text("2"), &[], None), 2);
        assert_eq!(texts(&[next(&mut fast).await.unwrap()]), [b"2"]);
        // `slow` holds 2 and cannot take a third: it is dropped, `fast` still gets it.
        assert_eq!(hub.send_to_all(text("3"), &[], None), 1);
        assert!(!hub.connection_exists("slow"));
        assert_eq!(
            next(&mut slow).await,
            Some(Delivery::Close {
                reason: Some(QUEUE_FULL_REASON.into())
            })
        );
        assert_eq!(next(&mut slow).await, None);
        assert_eq!(texts(&[next(&mut fast).await.unwrap()]), [b"3"]);
    }

    #[tokio::test]
    async fn try_recv_drains_without_waiting_with_the_same_close_rules() {
        let hub = holding(2).hub("h");
        let (_guard, mut outbound) = hub.register(info("c", None)).unwrap();
        assert_eq!(outbound.try_recv(), None, "nothing queued yet");
        hub.send_to_all(text("1"), &[], None);
        hub.send_to_all(text("2"), &[], None);
        assert_eq!(
            texts(&[outbound.try_recv().unwrap(), outbound.try_recv().unwrap()]),
            [b"1", b"2"]
        );
        assert_eq!(outbound.try_recv(), None);
        hub.send_to_all(text("3"), &[], None);
        assert!(hub.close_connection("c", Some("bye")));
        assert_eq!(texts(&[outbound.try_recv().unwrap()]), [b"3"]);
        assert_eq!(
            outbound.try_recv(),
            Some(Delivery::Close {
                reason: Some("bye".into())
            })
        );
        assert_eq!(outbound.try_recv(), None);
        assert_eq!(
            next(&mut outbound).await,
            None,
            "recv agrees the connection is over"
        );

        let (_guard, mut slow) = hub.register(info("slow", None)).unwrap();
        for data in ["a", "b", "c"] {
            hub.send_to_all(text(data), &[], None);
        }
        assert_eq!(
            slow.try_recv(),
            Some(Delivery::Close {
                reason: Some(QUEUE_FULL_REASON.into())
            })
        );
        assert_eq!(slow.try_recv(), None);
    }

    fn budget(high_water_bytes: usize, max_total_bytes: usize) -> Registry {
        Registry::with_budget(OutboundBudget {
            high_water_bytes,
            max_connection_bytes: DEFAULT_MAX_CONNECTION_BYTES,
            max_total_bytes,
        })
    }

    #[tokio::test]
    async fn a_group_sender_is_paced_until_its_recipients_drain() {
        // Three empty messages fill the high-water mark: even those cost bytes.
        let registry = budget(3 * ITEM_OVERHEAD_BYTES, DEFAULT_MAX_TOTAL_BYTES);
        let hub = registry.hub("h");
        let member = |id: &str| ConnectionInfo {
            groups: vec!["g".into()],
            ..info(id, None)
        };
        let (_a, mut reader) = hub.register(member("reader")).unwrap();
        let (_s, _sender) = hub.register(member("sender")).unwrap();
        let empty = || Message::new(Bytes::new(), DataType::Text, Origin::Server);
        let mut paused = Pressure::default();
        for _ in 0..3 {
            let (delivered, pressure) = hub.send_to_group_paced("g", empty(), &["sender"]);
            assert_eq!(delivered, 1);
            assert!(pressure.is_empty());
        }
        let (delivered, pressure) = hub.send_to_group_paced("g", empty(), &["sender"]);
        assert_eq!(
            delivered, 1,
            "a send past the mark is delivered, not refused"
        );
        paused.extend(pressure);
        assert!(!paused.is_empty());
        assert!(
            paused.relieved().now_or_never().is_none(),
            "the sender waits"
        );
        // REST sends do not wait, and do not drop a connection within its byte budget.
        assert_eq!(hub.send_to_group("g", empty(), &["sender"], None), 1);
        assert_eq!(reader.try_recv().map(|d| texts(&[d]).len()), Some(1));
        assert!(
            paused.relieved().now_or_never().is_none(),
            "still over the mark"
        );
        while reader.try_recv().is_some() {}
        assert!(paused.relieved().now_or_never().is_some(), "drained: go on");
        assert!(hub.connection_exists("reader"));

        // A waiting sender is woken by the drain.
        for _ in 0..4 {
            paused.extend(hub.send_to_group_paced("g", empty(), &["sender"]).1);
        }
        let waiting = tokio::spawn(async move { paused.relieved().await });
        tokio::task::yield_now().await;
        while reader.try_recv().is_some() {}
        next_within(waiting).await;
    }

    async fn next_within<T>(task: tokio::task::JoinHandle<T>) -> T {
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("within 5 s")
            .unwrap()
    }

    #[tokio::test]
    async fn a_recipient_that_goes_away_relieves_its_senders() {
        let hub = budget(ITEM_OVERHEAD_BYTES, DEFAULT_MAX_TOTAL_BYTES).hub("h");
        let (guard, outbound) = hub
            .register(ConnectionInfo {
                groups: vec!["g".into()],
                ..info("stuck", None)
            })
            .unwrap();
        let (_, mut paused) = hub.send_to_group_paced("g", text("1"), &[]);
        assert!(!paused.is_empty());
        let waiting = tokio::spawn(async move { paused.relieved().await });
        tokio::task::yield_now().await;
        // Its session ends (the write timeout dropped it): the queue and its bytes are gone.
        drop((guard, outbound));
        next_within(waiting).await;
    }

    #[tokio::test]
    async fn a_client_that_never_reads_holds_at_most_its_byte_budget() {
        let registry = Registry::new();
        let hub = registry.hub("h");
        let (_g, mut never_read) = hub.register(info("never-reads", None)).unwrap();
        let (_r, mut reader) = hub.register(info("reader", None)).unwrap();
        let mib = Bytes::from(vec![b'x'; 1 << 20]);
        let mut most = 0;
        for _ in 0..300 {
            hub.send_to_all(
                Message::new(mib.clone(), DataType::Binary, Origin::Server),
                &[],
                None,
            );
            assert!(reader.try_recv().is_some());
            most = most.max(registry.outbound_bytes());
        }
        // 300 MiB sent; the process never held more than one connection's budget of them.
        assert!(
            most <= DEFAULT_MAX_CONNECTION_BYTES + (1 << 20) + 4096,
            "held {most} bytes"
        );
        assert!(!hub.connection_exists("never-reads"));
        assert!(hub.connection_exists("reader"));
        assert_eq!(
            never_read.try_recv(),
            Some(Delivery::Close {
                reason: Some(QUEUE_FULL_REASON.into())
            })
        );
        assert_eq!(registry.outbound_bytes(), 0, "the dropped backlog is freed");
    }

    #[tokio::test]
    async fn over_the_process_budget_lagging_connections_are_dropped() {
        let message_size = std::mem::size_of::<Message>() + 300;
        let registry = budget(200, 3 * message_size - 1);
        let hub = registry.hub("h");
        let mut outbounds = Vec::new();
        for id in ["a", "b", "c", "d"] {
            outbounds.push(hub.register(info(id, None)).unwrap());
        }
        let payload = || Message::new(vec![1_u8; 300], DataType::Binary, Origin::Server);
        for id in ["a", "b", "c"] {
            assert!(hub.send_to_connection(id, payload()));
        }
        assert!(registry.outbound_bytes() > 3 * message_size - 1);
        // `a` is past its high-water mark while the process is over its total: dropped.
        assert!(!hub.send_to_connection("a", payload()));
        assert!(!hub.connection_exists("a"));
        // `d` has nothing queued: it still gets messages.
        assert!(hub.send_to_connection("d", payload()));
        let (_, a) = &mut outbounds[0];
        assert_eq!(
            a.try_recv(),
            Some(Delivery::Close {
                reason: Some(OVER_BUDGET_REASON.into())
            })
        );
        assert_eq!(
            registry.outbound_bytes(),
            3 * message_size,
            "b, c and d hold one each"
        );
    }

    #[tokio::test]
    async fn a_waiting_receiver_gets_the_close_before_the_backlog() {
        let hub = holding(1).hub("h");
        let (_guard, mut outbound) = hub.register(info("c", None)).unwrap();
        let waiting = tokio::spawn(async move { (next(&mut outbound).await, outbound) });
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        // On this single-threaded runtime the waiter cannot run between the two sends: the
        // first fills the queue, the second overflows it.
        assert_eq!(hub.send_to_all(text("1"), &[], None), 1);
        assert_eq!(hub.send_to_all(text("2"), &[], None), 0);
        let (first, mut outbound) = waiting.await.unwrap();
        assert_eq!(
            first,
            Some(Delivery::Close {
                reason: Some(QUEUE_FULL_REASON.into())
            })
        );
        assert_eq!(next(&mut outbound).await, None);
    }

    #[tokio::test]
    async fn guards_unregister_only_their_own_registration() {
        let hub = Registry::new().hub("h");
        let (guard, _outbound) = hub.register(info("c", Some("u"))).unwrap();
        assert_eq!(
            hub.register(info("c", None)).unwrap_err(),
            RegistryError::DuplicateConnection("c".into())
        );
        assert!(hub.close_connection("c", None));
        let (_second, _o2) = hub.register(info("c", None)).unwrap();
        drop(guard);
        assert!(
            hub.connection_exists("c"),
            "the old guard must not remove the new connection"
        );
        assert!(hub.close_connection("c", None));
        assert!(!hub.connection_exists("c"));
    }

    #[tokio::test]
    async fn permissions_combine_roles_and_grants() {
        let hub = Registry::new().hub("h");
        let roles = vec![
            "webpubsub.joinLeaveGroup.room.1".into(),
            "webpubsub.sendToGroup".into(),
            "custom".into(),
        ];
        let (_g, _o) = hub
            .register(ConnectionInfo {
                roles,
                ..info("c", None)
            })
            .unwrap();
        assert!(hub.has_permission("c", Permission::JoinLeaveGroup, Some("room.1")));
        assert!(!hub.has_permission("c", Permission::JoinLeaveGroup, Some("room.2")));
        assert!(!hub.has_permission("c", Permission::JoinLeaveGroup, None));
        assert!(hub.has_permission("c", Permission::SendToGroup, Some("any")));
        assert!(hub.has_permission("c", Permission::SendToGroup, None));

        hub.grant_permission("c", Permission::JoinLeaveGroup, Some("room.2"))
            .unwrap();
        assert!(hub.has_permission("c", Permission::JoinLeaveGroup, Some("room.2")));
        assert!(!hub.has_permission("c", Permission::JoinLeaveGroup, Some("room.3")));
        hub.grant_permission("c", Permission::JoinLeaveGroup, None)
            .unwrap();
        assert!(hub.has_permission("c", Permission::JoinLeaveGroup, Some("room.3")));
        assert!(hub.revoke_permission("c", Permission::JoinLeaveGroup, Some("room.2")));
        assert!(!hub.revoke_permission("c", Permission::JoinLeaveGroup, Some("room.2")));
        assert!(!hub.has_permission("c", Permission::JoinLeaveGroup, Some("room.2")));
        assert!(hub.has_permission("c", Permission::JoinLeaveGroup, Some("room.3")));
        // Revoking every group takes the group grants and the role's group with it.
        assert!(hub.revoke_permission("c", Permission::JoinLeaveGroup, None));
        assert!(!hub.has_permission("c", Permission::JoinLeaveGroup, Some("room.1")));
        assert!(!hub.has_permission("c", Permission::JoinLeaveGroup, Some("room.3")));
        assert_eq!(
            hub.grant_permission("x", Permission::SendToGroup, None),
            Err(RegistryError::ConnectionNotFound("x".into()))
        );
        assert!(!hub.has_permission("x", Permission::SendToGroup, Some("g")));

        let roles = vec!["webpubsub.sendToGroups.chat.*".into()];
        let (_w, _wo) = hub
            .register(ConnectionInfo {
                roles,
                ..info("w", None)
            })
            .unwrap();
        assert!(hub.has_permission("w", Permission::SendToGroup, Some("chat.lobby")));
        assert!(!hub.has_permission("w", Permission::SendToGroup, Some("chat.lobby.x")));
        assert!(!hub.has_permission("w", Permission::JoinLeaveGroup, Some("chat.lobby")));
    }

    #[tokio::test]
    async fn hubs_nobody_uses_are_forgotten_when_another_is_created() {
        let registry = Registry::new();
        let held = registry.hub("held");
        let (_guard, _outbound) = registry.hub("busy").register(info("c", None)).unwrap();
        for n in 0..100 {
            drop(registry.hub(&format!("anon{n}")));
        }
        // `held`, `busy` and the last anonymous hub, kept until the next creation.
        assert_eq!(registry.hub_count(), 3);
        drop(held);
        drop(registry.hub("next"));
        assert_eq!(registry.hub_count(), 2, "busy and next");
        assert!(registry.hub("busy").connection_exists("c"));
    }

    #[tokio::test]
    async fn a_hub_keeps_its_rest_state_while_it_has_connections_and_holds_none_after() {
        let registry = Registry::new();
        let hub = registry.hub("rest");
        let (guard, _outbound) = hub.register(info("c", Some("ann"))).unwrap();
        assert_eq!(hub.add_user_to_group("room", "ann"), Ok(1));
        hub.grant_permission("c", Permission::SendToGroup, Some("room"))
            .unwrap();
        // A deny entry, though no grant existed.
        hub.revoke_permission("c", Permission::JoinLeaveGroup, Some("room"));
        drop(hub);
        drop(registry.hub("other"));
        // Its connection keeps it, with what REST set.
        let hub = registry.hub("rest");
        assert!(hub.group_exists("room") && hub.user_exists("ann"));
        assert!(hub.has_permission("c", Permission::SendToGroup, Some("room")));
        assert!(!hub.has_permission("c", Permission::JoinLeaveGroup, Some("room")));
        drop(guard);
        // With the connection gone, the hub holds nothing to lose: users and groups exist
        // only through connections, and adding a user without one is refused (404), as in the
        // official emulator.
        assert!(hub.state().is_empty(), "{:?}", hub.state());
        assert_eq!(
            hub.add_user_to_group("room", "ann"),
            Err(RegistryError::UserNotFound("ann".into()))
        );
        drop(hub);
        drop(registry.hub("next"));
        assert_eq!(registry.hub_count(), 1, "rest and other are forgotten");
    }

    #[tokio::test]
    async fn a_connection_joins_at_most_the_cap_of_groups() {
        let hub = Registry::new().hub("h");
        let (_g, _o) = hub.register(info("c", Some("u"))).unwrap();
        for n in 0..MAX_GROUPS_PER_CONNECTION {
            assert!(hub.add_connection_to_group(&format!("g{n}"), "c").unwrap());
        }
        assert_eq!(
            hub.add_connection_to_group("one-more", "c"),
            Err(RegistryError::TooManyGroups("c".into()))
        );
        // A group it is in already is no new group; bulk adds skip a full connection.
        assert!(!hub.add_connection_to_group("g0", "c").unwrap());
        assert_eq!(hub.add_user_to_group("one-more", "u"), Ok(0));
        assert!(!hub.group_exists("one-more"));
        hub.remove_connection_from_group("g0", "c");
        assert!(hub.add_connection_to_group("one-more", "c").unwrap());
        let too_many = ConnectionInfo {
            groups: (0..=MAX_GROUPS_PER_CONNECTION)
                .map(|n| format!("t{n}"))
                .collect(),
            ..info("d", None)
        };
        assert!(matches!(
            hub.register(too_many),
            Err(RegistryError::TooManyGroups(_))
        ));
    }

    #[tokio::test]
    async fn a_revoke_denies_what_a_role_allows_until_a_grant() {
        let hub = Registry::new().hub("h");
        let (_g, _o) = hub
            .register(ConnectionInfo {
                roles: vec!["webpubsub.sendToGroup".into()],
                ..info("c", None)
            })
            .unwrap();
        let send = |group| hub.has_permission("c", Permission::SendToGroup, group);
        assert!(!hub.revoke_permission("c", Permission::SendToGroup, Some("room")));
        assert!(!send(Some("room")));
        assert!(send(Some("room-other")));
        assert!(!send(None), "no longer on every group");
        hub.grant_permission("c", Permission::SendToGroup, Some("room"))
            .unwrap();
        assert!(send(Some("room")) && send(None));
        hub.revoke_permission("c", Permission::SendToGroup, None);
        assert!(!send(Some("room")) && !send(Some("room-other")));
        hub.grant_permission("c", Permission::SendToGroup, None)
            .unwrap();
        assert!(send(Some("room")) && send(Some("room-other")));
    }

    #[tokio::test]
    async fn group_listing_pages_in_connection_id_order() {
        let hub = Registry::new().hub("h");
        let mut guards = Vec::new();
        for i in [3, 1, 4, 0, 2] {
            let info = ConnectionInfo {
                groups: vec!["g".into()],
                ..info(&format!("c{i}"), Some(&format!("u{i}")))
            };
            guards.push(hub.register(info).unwrap());
        }
        let first = hub.group_members("g", None, 2);
        let ids = |page: &GroupPage| {
            page.members
                .iter()
                .map(|m| m.connection_id.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&first), ["c0", "c1"]);
        assert_eq!(first.members[0].user_id.as_deref(), Some("u0"));
        let second = hub.group_members("g", first.continue_after.as_deref(), 2);
        assert_eq!(ids(&second), ["c2", "c3"]);
        let third = hub.group_members("g", second.continue_after.as_deref(), 2);
        assert_eq!(
            (ids(&third), third.continue_after),
            (vec!["c4".to_owned()], None)
        );
        assert_eq!(hub.group_members("none", None, 2).members, []);
    }

    #[test]
    fn concurrent_senders_and_registrations_keep_the_indexes_consistent() {
        let hub = holding(4).hub("h");
        std::thread::scope(|scope| {
            for t in 0..4 {
                let hub = hub.clone();
                scope.spawn(move || {
                    for i in 0..200 {
                        let id = format!("t{t}-{i}");
                        let info = ConnectionInfo {
                            groups: vec!["g".into()],
                            ..info(&id, Some("u"))
                        };
                        let (guard, outbound) = hub.register(info).unwrap();
                        hub.send_to_group("g", text("x"), &[], None);
                        if i % 2 == 0 {
                            drop((guard, outbound));
                        } else {
                            std::mem::forget(guard);
                            drop(outbound);
                        }
                    }
                });
            }
        });
        // Connections whose receiver is gone are dropped by the next send.
        hub.send_to_group("g", text("sweep"), &[], None);
        let state = hub.state();
        state.assert_consistent();
        assert!(
            state.connections.is_empty(),
            "{} left",
            state.connections.len()
        );
    }

    /// Random operation sequences against a plain model: the indexes, existence checks,
    /// listings and group sends always agree with it.
    mod model {
        use std::collections::{BTreeMap, BTreeSet};

        use proptest::prelude::*;

        use super::*;

        #[derive(Debug, Clone)]
        enum Op {
            Register {
                id: u8,
                user: Option<u8>,
                groups: Vec<u8>,
            },
            DropGuard(u8),
            Join(u8, u8),
            Leave(u8, u8),
            LeaveAll(u8),
            CloseConnection(u8),
            CloseUser(u8),
            CloseGroup(u8, Option<u8>),
            AddUser(u8, u8),
            RemoveUser(u8, u8),
            RemoveUserFromAll(u8),
        }

        fn op() -> impl Strategy<Value = Op> {
            let id = 0..6_u8;
            let user = 0..3_u8;
            let group = 0..3_u8;
            prop_oneof![
                (
                    id.clone(),
                    proptest::option::of(user.clone()),
                    proptest::collection::vec(group.clone(), 0..3)
                )
                    .prop_map(|(id, user, groups)| Op::Register {
                        id,
                        user,
                        groups
                    }),
                id.clone().prop_map(Op::DropGuard),
                (id.clone(), group.clone()).prop_map(|(i, g)| Op::Join(i, g)),
                (id.clone(), group.clone()).prop_map(|(i, g)| Op::Leave(i, g)),
                id.clone().prop_map(Op::LeaveAll),
                id.clone().prop_map(Op::CloseConnection),
                user.clone().prop_map(Op::CloseUser),
                (group.clone(), proptest::option::of(id)).prop_map(|(g, i)| Op::CloseGroup(g, i)),
                (user.clone(), group.clone()).prop_map(|(u, g)| Op::AddUser(u, g)),
                (user.clone(), group).prop_map(|(u, g)| Op::RemoveUser(u, g)),
                user.prop_map(Op::RemoveUserFromAll),
            ]
        }

        fn c(id: u8) -> String {
            format!("c{id}")
        }
        fn u(user: u8) -> String {
            format!("u{user}")
        }
        fn g(group: u8) -> String {
            format!("g{group}")
        }

        /// Connection id → (user, groups).
        type Model = BTreeMap<String, (Option<String>, BTreeSet<String>)>;

        fn users_connections(model: &Model, user: &str) -> Vec<String> {
            model
                .iter()
                .filter(|(_, (u, _))| u.as_deref() == Some(user))
                .map(|(id, _)| id.clone())
                .collect()
        }

        fn apply(
            hub: &Hub,
            model: &mut Model,
            live: &mut BTreeMap<String, (ConnectionGuard, Outbound)>,
            op: Op,
        ) {
            match op {
                Op::Register { id, user, groups } => {
                    let info = ConnectionInfo {
                        connection_id: c(id),
                        user_id: user.map(u),
                        groups: groups.iter().copied().map(g).collect(),
                        ..Default::default()
                    };
                    let result = hub.register(info);
                    assert_eq!(result.is_ok(), !model.contains_key(&c(id)));
                    if let Ok(registration) = result {
                        model.insert(c(id), (user.map(u), groups.into_iter().map(g).collect()));
                        // Replacing an old guard of a closed connection must not remove the new one.
                        live.insert(c(id), registration);
                    }
                }
                Op::DropGuard(id) => {
                    if live.remove(&c(id)).is_some() {
                        model.remove(&c(id));
                    }
                }
                Op::Join(id, group) => {
                    let expected = model
                        .get_mut(&c(id))
                        .map(|(_, groups)| groups.insert(g(group)));
                    let result = hub.add_connection_to_group(&g(group), &c(id));
                    assert_eq!(result.ok(), expected);
                }
                Op::Leave(id, group) => {
                    let expected = model
                        .get_mut(&c(id))
                        .is_some_and(|(_, groups)| groups.remove(&g(group)));
                    assert_eq!(
                        hub.remove_connection_from_group(&g(group), &c(id)),
                        expected
                    );
                }
                Op::LeaveAll(id) => {
                    let expected = model
                        .get_mut(&c(id))
                        .is_some_and(|(_, groups)| !std::mem::take(groups).is_empty());
                    assert_eq!(hub.remove_connection_from_all_groups(&c(id)), expected);
                }
                Op::CloseConnection(id) => {
                    assert_eq!(
                        hub.close_connection(&c(id), None),
                        model.remove(&c(id)).is_some()
                    );
                }
                Op::CloseUser(user) => {
                    let ids = users_connections(model, &u(user));
                    assert_eq!(hub.close_user(&u(user), None, &[]), ids.len());
                    for id in ids {
                        model.remove(&id);
                    }
                }
                Op::CloseGroup(group, excluded) => {
                    let excluded = excluded.map(c);
                    let ids: Vec<String> = model
                        .iter()
                        .filter(|(id, (_, groups))| {
                            groups.contains(&g(group)) && Some(*id) != excluded.as_ref()
                        })
                        .map(|(id, _)| id.clone())
                        .collect();
                    let excluded: Vec<&str> = excluded.iter().map(String::as_str).collect();
                    assert_eq!(hub.close_group(&g(group), None, &excluded), ids.len());
                    for id in ids {
                        model.remove(&id);
                    }
                }
                Op::AddUser(user, group) => {
                    let ids = users_connections(model, &u(user));
                    let joined = ids
                        .iter()
                        .filter(|id| model.get_mut(*id).unwrap().1.insert(g(group)))
                        .count();
                    let result = hub.add_user_to_group(&g(group), &u(user));
                    if ids.is_empty() {
                        assert_eq!(result, Err(RegistryError::UserNotFound(u(user))));
                    } else {
                        assert_eq!(result, Ok(joined));
                    }
                }
                Op::RemoveUser(user, group) => {
                    let ids = users_connections(model, &u(user));
                    let left = ids
                        .iter()
                        .filter(|id| model.get_mut(*id).unwrap().1.remove(&g(group)))
                        .count();
                    assert_eq!(hub.remove_user_from_group(&g(group), &u(user)), left);
                }
                Op::RemoveUserFromAll(user) => {
                    let ids = users_connections(model, &u(user));
                    let left = ids
                        .iter()
                        .filter(|id| !std::mem::take(&mut model.get_mut(*id).unwrap().1).is_empty())
                        .count();
                    assert_eq!(hub.remove_user_from_all_groups(&u(user)), left);
                }
            }
        }

        fn check(hub: &Hub, model: &Model) {
            hub.state().assert_consistent();
            for id in 0..6 {
                assert_eq!(
                    hub.connection_exists(&c(id)),
                    model.contains_key(&c(id)),
                    "{}",
                    c(id)
                );
            }
            for user in 0..3 {
                assert_eq!(
                    hub.user_exists(&u(user)),
                    !users_connections(model, &u(user)).is_empty()
                );
            }
            for group in 0..3 {
                let members: Vec<(String, Option<String>)> = model
                    .iter()
                    .filter(|(_, (_, groups))| groups.contains(&g(group)))
                    .map(|(id, (user, _))| (id.clone(), user.clone()))
                    .collect();
                assert_eq!(hub.group_exists(&g(group)), !members.is_empty());
                let listed: Vec<(String, Option<String>)> = hub
                    .group_members(&g(group), None, 10)
                    .members
                    .into_iter()
                    .map(|m| (m.connection_id, m.user_id))
                    .collect();
                assert_eq!(listed, members);
                let message =
                    Message::new(Bytes::from_static(b"x"), DataType::Text, Origin::Server);
                assert_eq!(
                    hub.send_to_group(&g(group), message, &[], None),
                    members.len()
                );
            }
        }

        proptest! {
            #[test]
            fn operations_agree_with_a_model(ops in proptest::collection::vec(op(), 1..40)) {
                let hub = Registry::new().hub("h");
                let mut model = Model::new();
                let mut live = BTreeMap::new();
                for op in ops {
                    apply(&hub, &mut model, &mut live, op);
                    check(&hub, &model);
                }
            }
        }
    }
}
