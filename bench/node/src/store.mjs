// Numbering with @nasa-gcn/dynamodb-autoincrement: read the year's counter, then one
// transaction that moves it on the condition that it has not moved and puts the record
// where no record is; a cancelled transaction starts again from the read (the library's
// optimistic loop). The counter item is the Rust store's: `COUNTER#YYYY` / `COUNTER`,
// attribute `n`.

import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb'
import { DynamoDBAutoIncrement } from '@nasa-gcn/dynamodb-autoincrement'

import { recordItem, toRecord } from './record.mjs'

const TABLE = process.env.VTID_TABLE || 'vtid-ledger'

// Built once per cold start and shared by every invocation.
const doc = DynamoDBDocumentClient.from(new DynamoDBClient({}), {
  marshallOptions: { removeUndefinedValues: true },
})

/**
 * The library puts `{[attributeName]: n, ...item}` into a table keyed by that number.
 * Here the key is the VTID made from the number, so the record put is built from it.
 */
class RecordAutoIncrement extends DynamoDBAutoIncrement {
  constructor(year, build) {
    super({
      doc,
      counterTableName: TABLE,
      counterTableKey: { pk: `COUNTER#${year}`, sk: 'COUNTER' },
      attributeName: 'n',
      tableName: TABLE,
      initialValue: 1,
    })
    this.build = build
  }

  async next() {
    const { puts, nextCounter } = await super.next({})
    const record = {
      TableName: TABLE,
      Item: this.build(nextCounter),
      ConditionExpression: 'attribute_not_exists(pk)',
    }
    return { puts: [puts[0], record], nextCounter }
  }
}

export async function parentExists(vtid) {
  const out = await doc.send(
    new GetCommand({
      TableName: TABLE,
      Key: { pk: vtid, sk: 'RECORD' },
      ProjectionExpression: 'pk',
      ConsistentRead: true,
    })
  )
  return out.Item !== undefined
}

/** Creates the record of `draft` under the next number of this year; returns it. */
export async function createRecord(draft, by) {
  const now = new Date().toISOString()
  const year = Number(now.slice(0, 4))
  let record
  const numbering = new RecordAutoIncrement(year, (seq) => {
    record = toRecord(draft, year, seq, by, now)
    return recordItem(record, year, seq)
  })
  await numbering.put({})
  return record
}
