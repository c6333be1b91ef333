//! The table itself: creating it as `template.yaml` declares it (`vtid serve
//! --create-table`, tests), and values kept in it (the cursor key).

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
    TimeToLiveSpecification,
};

use super::DynamoStore;
use super::errors::sdk_error;
use super::item::{get_s, internal, key, s};
use crate::store::StoreError;
use crate::store::schema::{self, INDEXES, Index, ORD, PK, SK};

impl DynamoStore {
    /// Creates the table with the keys, indexes, stream and TTL that `template.yaml` declares.
    pub async fn create_table(&self) -> Result<(), StoreError> {
        let mut attributes = vec![
            (PK, ScalarAttributeType::S),
            (SK, ScalarAttributeType::S),
            (ORD, ScalarAttributeType::N),
        ];
        attributes.extend(
            INDEXES
                .iter()
                .map(|i| (i.partition, scalar(i.partition_type))),
        );
        let definitions = attributes
            .into_iter()
            .map(|(name, t)| {
                AttributeDefinition::builder()
                    .attribute_name(name)
                    .attribute_type(t)
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(internal)?;
        let key_element = |name: &str, t: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(t)
                .build()
        };
        let mut indexes = Vec::new();
        for i in INDEXES {
            indexes.push(
                GlobalSecondaryIndex::builder()
                    .index_name(i.name)
                    .key_schema(key_element(i.partition, KeyType::Hash).map_err(internal)?)
                    .key_schema(key_element(ORD, KeyType::Range).map_err(internal)?)
                    .projection(projection(&i))
                    .build()
                    .map_err(internal)?,
            );
        }
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .set_attribute_definitions(Some(definitions))
            .key_schema(key_element(PK, KeyType::Hash).map_err(internal)?)
            .key_schema(key_element(SK, KeyType::Range).map_err(internal)?)
            .set_global_secondary_indexes(Some(indexes))
            .billing_mode(BillingMode::PayPerRequest)
            .stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::NewAndOldImages)
                    .build()
                    .map_err(internal)?,
            )
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(e) if e.code() == Some("ResourceInUseException") => return Ok(()),
            Err(e) => return Err(sdk_error(e)),
        }
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name(schema::TTL_ATTRIBUTE)
                    .build()
                    .map_err(internal)?,
            )
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }

    /// A value kept in the table itself (the cursor key where none is configured), made
    /// once by `init`: every process sharing the table reads the same one.
    pub async fn config_value(
        &self,
        name: &str,
        init: impl FnOnce() -> String,
    ) -> Result<String, StoreError> {
        let item_key = key("CONFIG", name);
        let mut item = item_key.clone();
        item.insert("value".into(), s(init()));
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        if let Err(e) = put
            && e.code() != Some("ConditionalCheckFailedException")
        {
            return Err(sdk_error(e));
        }
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(item_key))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error)?;
        out.item()
            .and_then(|i| get_s(i, "value"))
            .map(str::to_owned)
            .ok_or_else(|| internal("config value vanished"))
    }
}

fn scalar(t: schema::KeyType) -> ScalarAttributeType {
    match t {
        schema::KeyType::S => ScalarAttributeType::S,
        schema::KeyType::N => ScalarAttributeType::N,
    }
}

fn projection(i: &Index) -> Projection {
    match i.projection {
        schema::Projection::KeysOnly => Projection::builder()
            .projection_type(ProjectionType::KeysOnly)
            .build(),
        schema::Projection::ListAttributes => Projection::builder()
            .projection_type(ProjectionType::Include)
            .set_non_key_attributes(Some(
                i.non_key_attributes()
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
            ))
            .build(),
    }
}
