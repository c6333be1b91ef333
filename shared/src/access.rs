//! Who may see and change what, in one place. A handler reaches the store only through a
//! [`View`], made for each call from the caller and the read scope
//! ([`App::store_for`](crate::App::store_for)). The view applies every access rule, so a
//! new route cannot forget one:
//!
//! - with tenant-scoped reads, another tenant's record looks exactly like a missing one
//!   to a plain caller: on get, HEAD, history, PATCH (404) and as a parent (422);
//! - a scoped list is the caller's own tenant (another tenant, or none, is 403);
//! - a create is for the caller's own tenant, any tenant for `admin` and `service`;
//! - a PATCH touches only the caller's tenant's records, any for `admin` and `service`;
//! - the audit is for `admin` and `service`.
//!
//! The rules about the identity itself (which claims make a caller, what a role is) are
//! `identity`'s.

use crate::error::ApiError;
use crate::identity::{Caller, ReadScope};
use crate::record::{Draft, Record};
use crate::store::{
    Audit, CreateOutcome, CreateRequest, HistoryPage, HistoryQuery, ListQuery, Page, Records,
    StoreError, UpdateOutcome, UpdateRequest,
};
use crate::vtid::Vtid;

/// The store as one caller may use it.
pub struct View<'a> {
    store: &'a dyn Records,
    caller: &'a Caller,
    reads: ReadScope,
}

impl<'a> View<'a> {
    pub fn new(store: &'a dyn Records, caller: &'a Caller, reads: ReadScope) -> Self {
        Self {
            store,
            caller,
            reads,
        }
    }

    /// Whether the caller sees every tenant's records.
    fn sees_all(&self) -> bool {
        self.reads == ReadScope::All || self.caller.is_privileged()
    }

    fn may_read(&self, record: &Record) -> bool {
        self.caller.may_read(self.reads, &record.tenant)
    }

    /// The record, if it exists and the caller may see it.
    pub async fn get(&self, vtid: Vtid) -> Result<Option<Record>, ApiError> {
        let record = self.store.get(vtid).await?;
        Ok(record.filter(|r| self.may_read(r)))
    }

    /// Whether the record exists for the caller: one read of the key alone when the
    /// caller sees every tenant.
    pub async fn exists(&self, vtid: Vtid) -> Result<bool, ApiError> {
        match self.sees_all() {
            true => Ok(self.store.exists(vtid).await?),
            false => Ok(self.get(vtid).await?.is_some()),
        }
    }

    /// A page of the record's history; `None` when the record is missing or out of sight.
    pub async fn history(&self, query: &HistoryQuery) -> Result<Option<HistoryPage>, ApiError> {
        if !self.sees_all() && self.get(query.vtid).await?.is_none() {
            return Ok(None);
        }
        Ok(self.store.history(query).await?)
    }

    /// A PATCH limited to the records the caller may change; another tenant's record is
    /// 404 like a missing one when reads are scoped (403 when existence is no secret).
    pub async fn update(&self, mut req: UpdateRequest) -> Result<UpdateOutcome, ApiError> {
        let vtid = req.vtid;
        req.tenant_guard = self.caller.update_guard();
        self.store.update(req).await.map_err(|e| match e {
            StoreError::NotFound => absent(vtid),
            StoreError::Forbidden if self.reads == ReadScope::OwnTenant => absent(vtid),
            other => other.into(),
        })
    }

    /// Narrows a list to what the caller may read: with tenant-scoped reads, a plain
    /// caller's own tenant (naming another, or having none, is 403).
    pub fn scope(&self, query: &mut ListQuery) -> Result<(), ApiError> {
        if self.sees_all() {
            return Ok(());
        }
        query.tenant_scoped = true;
        match (&query.filters.tenant, &self.caller.tenant) {
            (_, None) => Err(ApiError::Forbidden(
                "this caller has no tenant to read".into(),
            )),
            (Some(asked), Some(own)) if asked != own => Err(ApiError::Forbidden(
                "this caller may read only its own tenant".into(),
            )),
            (_, Some(own)) => {
                query.filters.tenant = Some(own.clone());
                Ok(())
            }
        }
    }

    /// One page of a list already scoped with [`View::scope`].
    pub async fn list(&self, query: &ListQuery) -> Result<Page, ApiError> {
        debug_assert!(self.sees_all() || query.tenant_scoped, "an unscoped list");
        Ok(self.store.list(query).await?)
    }

    /// Whether the caller may create records of `tenant`.
    pub fn check_create(&self, tenant: &str) -> Result<(), ApiError> {
        self.caller.check_create(tenant)
    }

    /// Writes the drafts, once each may be created and each parent is one the caller may
    /// read (a parent out of sight answers as one that does not exist: 422). One read per
    /// distinct parent, only with scoped reads; the store checks existence again in its
    /// write.
    pub async fn create(&self, req: CreateRequest) -> Result<CreateOutcome, ApiError> {
        for d in &req.drafts {
            self.check_create(&d.tenant)?;
        }
        self.check_parents(&req.drafts).await?;
        Ok(self.store.create(req).await?)
    }

    async fn check_parents(&self, drafts: &[Draft]) -> Result<(), ApiError> {
        if self.sees_all() {
            return Ok(());
        }
        let mut checked: Vec<Vtid> = Vec::new();
        for parent in drafts.iter().filter_map(|d| d.parent_vtid) {
            if checked.contains(&parent) {
                continue;
            }
            if self.get(parent).await?.is_none() {
                return Err(ApiError::parent_not_found(parent));
            }
            checked.push(parent);
        }
        Ok(())
    }

    /// The year's audit, for `admin` and `service`.
    pub async fn audit(&self, year: u16) -> Result<Audit, ApiError> {
        self.caller.check_audit()?;
        Ok(self.store.audit(year).await?)
    }
}

/// A record missing, or one the caller may not know of: the same answer.
pub fn absent(vtid: Vtid) -> ApiError {
    ApiError::NotFound(format!("{vtid} does not exist"))
}

#[cfg(test)]
mod tests {
    /// The store's field is private to `App`; its one escape hatch is for tools and
    /// tests. No handler takes it, so every handler's access goes through a `View`.
    #[test]
    fn no_handler_reaches_the_store_around_the_view() {
        let api = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api");
        let mut read = 0;
        for entry in std::fs::read_dir(&api).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                assert!(
                    !text.contains("unscoped_store"),
                    "{} reaches the store around the access rules",
                    path.display()
                );
                read += 1;
            }
        }
        assert!(read >= 10, "read {read} handler files");
    }
}
