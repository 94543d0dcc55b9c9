//! `--import CHAIN.rlp`: the blocks of an RLP chain file (geth's `export` format: one RLP block
//! after another), each executed on the head under the rules of its own fork and checked
//! against its header before it is recorded (`EvmEvent::BlockImported`) and published.
//!
//! What a block runs through, in geth's order: the EIP-4788 beacon root and EIP-2935 history
//! system calls (Cancun, Prague), its transactions (each committed on its own; before
//! Byzantium its receipt holds the state root after it), the EIP-7685 requests (deposit logs,
//! the EIP-7002 and EIP-7251 system calls), then the balance increments: withdrawals, and
//! before the merge the block and uncle rewards. Then everything the header commits to is
//! compared: gas used, state, transactions, receipts, uncles, withdrawals and requests roots,
//! logs bloom, blob gas. Proof of work is not verified.

use std::{path::Path, sync::Arc};

use alloy_consensus::{
    Block, Eip658Value, Header, Receipt, ReceiptEnvelope, Transaction as _, TxEnvelope, proofs,
    transaction::SignerRecoverable,
};
use alloy_eips::{
    eip2935::HISTORY_STORAGE_ADDRESS, eip4788::BEACON_ROOTS_ADDRESS,
    eip7002::WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS,
    eip7251::CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS, eip7685::Requests,
};
use alloy_primitives::{Address, B256, Bytes, Log, U256};
use alloy_rlp::Decodable;
use ir3_foundation::append_blocking;
use revm::{
    ExecuteEvm, SystemCallEvm,
    context::{BlockEnv, CfgEnv},
    database_interface::WrapDatabaseRef,
    primitives::{TxKind, hardfork::SpecId},
    state::EvmState,
};

use crate::{
    block::{SignedTx, StoredBlock, StoredReceipt},
    chain::Chain,
    error::{EvmError, Result},
    events::EvmEvent,
    execute::{blob_gas_used, build_evm, header_env, logs_bloom, tx_env},
    node::EvmNode,
    state::AccountRecord,
};

/// The system address system calls are made from.
const SYSTEM_ADDRESS: Address = alloy_eips::eip4788::SYSTEM_ADDRESS;
/// One ether in wei.
const ETHER: u128 = 1_000_000_000_000_000_000;

/// Reads an RLP chain file and splits it into its blocks' encodings (not decoded yet).
pub fn read_chain_file(path: &Path) -> Result<Vec<Bytes>> {
    let bytes = std::fs::read(path)
        .map_err(|e| EvmError::InvalidParams(format!("cannot read {}: {e}", path.display())))?;
    let mut rest = bytes.as_slice();
    let mut blocks = Vec::new();
    while !rest.is_empty() {
        let start = rest;
        let header = alloy_rlp::Header::decode(&mut rest).map_err(|e| {
            EvmError::InvalidParams(format!(
                "{}: block {} is not RLP: {e}",
                path.display(),
                blocks.len() + 1
            ))
        })?;
        if !header.list || rest.len() < header.payload_length {
            return Err(EvmError::InvalidParams(format!(
                "{}: block {} is truncated or not a list",
                path.display(),
                blocks.len() + 1
            )));
        }
        let length = start.len() - rest.len() + header.payload_length;
        blocks.push(Bytes::copy_from_slice(&start[..length]));
        rest = &start[length..];
    }
    Ok(blocks)
}

/// Decodes one block of a chain file.
pub fn decode_block(raw: &[u8]) -> Result<Block<TxEnvelope>> {
    let mut slice = raw;
    let block = Block::<TxEnvelope>::decode(&mut slice)
        .map_err(|e| EvmError::InvalidParams(format!("undecodable block: {e}")))?;
    if !slice.is_empty() {
        return Err(EvmError::InvalidParams(format!("block has {} trailing bytes", slice.len())));
    }
    Ok(block)
}

/// Why an imported block is refused.
fn rejected(number: u64, reason: impl Into<String>) -> EvmError {
    EvmError::BlockRejected { number, reason: reason.into() }
}

/// What running a block's body gave.
pub(crate) struct ExecutedBody {
    /// The receipts, in order.
    pub(crate) receipts: Vec<StoredReceipt>,
    /// Gas used by the transactions.
    pub(crate) gas_used: u64,
    /// The EIP-7685 requests (from Prague on).
    pub(crate) requests: Option<Requests>,
}

/// The revm environment of one imported block, and the rules it runs under.
struct ImportEnv {
    cfg: CfgEnv,
    block: BlockEnv,
    spec: SpecId,
    merged: bool,
}

impl Chain {
    /// Executes `raw` (one RLP block) on the head and checks it against its header. On success
    /// its state is committed (not yet published: [`Chain::publish`] makes it the head,
    /// [`Chain::rollback`] undoes it); on failure nothing is left behind.
    pub fn import_block(&mut self, raw: &[u8]) -> Result<StoredBlock> {
        self.import_decoded(decode_block(raw)?, raw.len() as u64)
    }

    /// [`Chain::import_block`] of a block already decoded (`size`: its RLP length).
    pub(crate) fn import_decoded(
        &mut self,
        block: Block<TxEnvelope>,
        size: u64,
    ) -> Result<StoredBlock> {
        let outcome = self.execute_imported(block, size);
        if outcome.is_err() {
            self.rollback();
        }
        outcome
    }

    fn execute_imported(&mut self, block: Block<TxEnvelope>, size: u64) -> Result<StoredBlock> {
        let header = block.header;
        let number = header.number;
        let head = self.head().clone();
        if number != head.number() + 1 {
            return Err(rejected(number, format!("the head is block {}", head.number())));
        }
        if header.parent_hash != head.hash {
            return Err(rejected(
                number,
                format!("parent hash {} is not the head's {}", header.parent_hash, head.hash),
            ));
        }
        let transactions = block
            .body
            .transactions
            .into_iter()
            .enumerate()
            .map(|(index, envelope)| {
                let sender = envelope.recover_signer().map_err(|_| {
                    rejected(number, format!("transaction {index} has an invalid signature"))
                })?;
                Ok(Arc::new(SignedTx::from_envelope(envelope, sender)))
            })
            .collect::<Result<Vec<_>>>()?;
        let executed =
            self.execute_body(&header, &transactions, &block.body.ommers, &block.body.withdrawals)?;
        let block = StoredBlock {
            hash: header.hash_slow(),
            header,
            transactions,
            receipts: executed.receipts,
            size,
            ommers: block.body.ommers,
            withdrawals: block.body.withdrawals,
        };
        self.check_imported(&block, executed.gas_used, executed.requests.as_ref())?;
        Ok(block)
    }

    /// Runs a block's body on the head in geth's order (see the module docs), committing its
    /// changes to the block's revision: system calls, transactions, requests, withdrawals and
    /// rewards. The header gives the environment; its roots are not looked at.
    pub(crate) fn execute_body(
        &mut self,
        header: &Header,
        transactions: &[Arc<SignedTx>],
        ommers: &[Header],
        withdrawals: &Option<alloy_eips::eip4895::Withdrawals>,
    ) -> Result<ExecutedBody> {
        let number = header.number;
        let env = self.import_env(header);
        let revision = self.revision + 1;
        if env.spec >= SpecId::CANCUN
            && let Some(root) = header.parent_beacon_block_root
        {
            self.import_system_call(&env, BEACON_ROOTS_ADDRESS, root.0.into(), number)?;
        }
        if env.spec >= SpecId::PRAGUE {
            let parent = header.parent_hash.0.into();
            self.import_system_call(&env, HISTORY_STORAGE_ADDRESS, parent, number)?;
        }
        let mut receipts = Vec::with_capacity(transactions.len());
        let (mut gas_used, mut log_index) = (0u64, 0u64);
        for (index, tx) in transactions.iter().enumerate() {
            let outcome = {
                let db = WrapDatabaseRef(self.pending_state());
                let mut evm = build_evm(db, env.cfg.clone(), env.block.clone(), ());
                evm.transact(tx_env(tx))
            };
            let outcome = outcome.map_err(|e| {
                rejected(number, format!("transaction {index} ({}) is invalid: {e}", tx.hash))
            })?;
            let tx_gas = outcome.result.tx_gas_used();
            gas_used += tx_gas;
            let success = outcome.result.is_success();
            let logs: Vec<Log> = outcome.result.into_logs();
            self.commit_imported(revision, outcome.state, env.spec);
            let status = if env.spec >= SpecId::BYZANTIUM {
                Eip658Value::Eip658(success)
            } else {
                Eip658Value::PostState(self.state.state_root())
            };
            let count = logs.len() as u64;
            let receipt = Receipt { status, cumulative_gas_used: gas_used, logs };
            receipts.push(StoredReceipt {
                envelope: ReceiptEnvelope::from_typed(tx.envelope.tx_type(), receipt.with_bloom()),
                gas_used: tx_gas,
                effective_gas_price: tx.envelope.effective_gas_price(header.base_fee_per_gas),
                contract_address: match tx.envelope.kind() {
                    TxKind::Create => Some(tx.sender.create(tx.nonce())),
                    TxKind::Call(_) => None,
                },
                first_log_index: log_index,
            });
            log_index += count;
        }
        let requests = (env.spec >= SpecId::PRAGUE)
            .then(|| self.import_requests(&env, &receipts, number))
            .transpose()?;
        if let Some(withdrawals) = withdrawals {
            for withdrawal in withdrawals.iter() {
                self.credit(revision, withdrawal.address, withdrawal.amount_wei());
            }
        }
        if !env.merged {
            self.credit_rewards(revision, header, ommers, env.spec);
        }
        Ok(ExecutedBody { receipts, gas_used, requests })
    }

    /// The environment of an imported block ([`header_env`]); its senders are checked as
    /// revm checks them (EIP-3607 on).
    fn import_env(&self, header: &Header) -> ImportEnv {
        let (mut cfg, block) = header_env(self.config(), header);
        cfg.disable_eip3607 = false;
        let spec = cfg.spec;
        let merged = block.prevrandao.is_some();
        ImportEnv { cfg, block, spec, merged }
    }

    /// A view of the state of the block being imported (its revision, as far as committed).
    fn pending_state(&self) -> crate::state::StateAt<'_> {
        crate::state::StateAt {
            state: &self.state,
            revision: self.revision + 1,
            block_hashes: self.block_hashes(),
        }
    }

    /// Commits one transaction's (or system call's) changes to the block being imported;
    /// touched empty accounts are removed from Spurious Dragon on (EIP-161), kept before.
    fn commit_imported(&mut self, revision: u64, changes: EvmState, spec: SpecId) {
        self.state.commit_with(revision, changes, spec >= SpecId::SPURIOUS_DRAGON);
    }

    /// A system call made by the protocol (from the system address, no gas paid); returns its
    /// output. Its changes to the system address and the coinbase are dropped, as geth does.
    fn import_system_call(
        &mut self,
        env: &ImportEnv,
        contract: Address,
        input: Bytes,
        number: u64,
    ) -> Result<Bytes> {
        let outcome = {
            let db = WrapDatabaseRef(self.pending_state());
            let mut evm = build_evm(db, env.cfg.clone(), env.block.clone(), ());
            evm.system_call(contract, input)
        };
        let mut outcome = outcome
            .map_err(|e| rejected(number, format!("system call to {contract} failed: {e}")))?;
        if !outcome.result.is_success() {
            return Err(rejected(number, format!("system call to {contract} failed")));
        }
        outcome.state.remove(&SYSTEM_ADDRESS);
        outcome.state.remove(&env.block.beneficiary);
        let output = outcome.result.output().cloned().unwrap_or_default();
        self.commit_imported(self.revision + 1, outcome.state, env.spec);
        Ok(output)
    }

    /// The block's EIP-7685 requests: deposits from the deposit contract's logs (EIP-6110),
    /// withdrawal (EIP-7002) and consolidation (EIP-7251) requests from their system calls.
    fn import_requests(
        &mut self,
        env: &ImportEnv,
        receipts: &[StoredReceipt],
        number: u64,
    ) -> Result<Requests> {
        let mut requests = Requests::default();
        let deposit_contract = self.config().schedule.as_ref().and_then(|s| s.deposit_contract);
        if let Some(contract) = deposit_contract {
            let deposits = deposit_requests(contract, receipts)
                .map_err(|e| rejected(number, format!("invalid deposit log: {e}")))?;
            if !deposits.is_empty() {
                requests.push_request_with_type(0, deposits);
            }
        }
        let withdrawals = self.import_system_call(
            env,
            WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS,
            Bytes::new(),
            number,
        )?;
        if !withdrawals.is_empty() {
            requests.push_request_with_type(1, withdrawals);
        }
        let consolidations = self.import_system_call(
            env,
            CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS,
            Bytes::new(),
            number,
        )?;
        if !consolidations.is_empty() {
            requests.push_request_with_type(2, consolidations);
        }
        Ok(requests)
    }

    /// Adds `amount` wei to an account of the block being imported.
    fn credit(&mut self, revision: u64, address: Address, amount: U256) {
        if amount.is_zero() {
            return;
        }
        let mut record = self.state.account_at(address, revision).unwrap_or(AccountRecord {
            balance: U256::ZERO,
            nonce: 0,
            code_hash: revm::primitives::KECCAK_EMPTY,
        });
        record.balance = record.balance.saturating_add(amount);
        self.state.set_account(address, revision, Some(record));
    }

    /// Proof-of-work rewards: the block's to its miner, with 1/32 of it per uncle included,
    /// and each uncle's to its miner ((8 + uncle number - number) / 8 of it).
    fn credit_rewards(&mut self, revision: u64, header: &Header, ommers: &[Header], spec: SpecId) {
        let base = block_reward(spec);
        let miner = base + base / 32 * ommers.len() as u128;
        self.credit(revision, header.beneficiary, U256::from(miner));
        for ommer in ommers {
            let share = (8 + u128::from(ommer.number)).saturating_sub(u128::from(header.number));
            self.credit(revision, ommer.beneficiary, U256::from(base * share / 8));
        }
    }

    /// Compares an executed block with what its header commits to.
    fn check_imported(
        &mut self,
        block: &StoredBlock,
        gas_used: u64,
        requests: Option<&Requests>,
    ) -> Result<()> {
        let header = &block.header;
        let number = header.number;
        let mismatch = |what: &str, ours: String, theirs: String| {
            Err(rejected(number, format!("{what} is {ours}, its header says {theirs}")))
        };
        if gas_used != header.gas_used {
            return mismatch("gas used", gas_used.to_string(), header.gas_used.to_string());
        }
        let envelopes: Vec<&TxEnvelope> = block.transactions.iter().map(|t| &t.envelope).collect();
        let transactions_root = proofs::calculate_transaction_root(&envelopes);
        if transactions_root != header.transactions_root {
            return mismatch(
                "the transactions root",
                transactions_root.to_string(),
                header.transactions_root.to_string(),
            );
        }
        let ommers_hash = proofs::calculate_ommers_root(&block.ommers);
        if ommers_hash != header.ommers_hash {
            return mismatch(
                "the uncles hash",
                ommers_hash.to_string(),
                header.ommers_hash.to_string(),
            );
        }
        let withdrawals_root =
            block.withdrawals.as_ref().map(|w| proofs::calculate_withdrawals_root(w));
        if withdrawals_root != header.withdrawals_root {
            return mismatch(
                "the withdrawals root",
                format!("{withdrawals_root:?}"),
                format!("{:?}", header.withdrawals_root),
            );
        }
        let receipts: Vec<&ReceiptEnvelope<Log>> =
            block.receipts.iter().map(|r| &r.envelope).collect();
        let receipts_root = proofs::calculate_receipt_root(&receipts);
        if receipts_root != header.receipts_root {
            return mismatch(
                "the receipts root",
                receipts_root.to_string(),
                header.receipts_root.to_string(),
            );
        }
        if logs_bloom(receipts.iter().copied()) != header.logs_bloom {
            return Err(rejected(number, "the logs bloom differs from its header's"));
        }
        let blob_gas = blob_gas_used(&block.transactions);
        if header.blob_gas_used.is_some_and(|used| used != blob_gas) {
            return mismatch(
                "blob gas used",
                blob_gas.to_string(),
                format!("{:?}", header.blob_gas_used),
            );
        }
        let requests_hash = requests.map(Requests::requests_hash);
        if requests_hash != header.requests_hash {
            return mismatch(
                "the requests hash",
                format!("{requests_hash:?}"),
                format!("{:?}", header.requests_hash),
            );
        }
        let state_root = self.state.state_root();
        if state_root != header.state_root {
            return mismatch(
                "the state root",
                state_root.to_string(),
                header.state_root.to_string(),
            );
        }
        Ok(())
    }
}

/// The proof-of-work block reward of a fork: 5 ether, 3 from Byzantium, 2 from Constantinople.
pub(crate) fn block_reward(spec: SpecId) -> u128 {
    match spec {
        spec if spec >= SpecId::PETERSBURG => 2 * ETHER,
        spec if spec >= SpecId::BYZANTIUM => 3 * ETHER,
        _ => 5 * ETHER,
    }
}

alloy_sol_types::sol! {
    /// The deposit contract's event (EIP-6110 reads deposits from it).
    event DepositEvent(bytes pubkey, bytes withdrawal_credentials, bytes amount, bytes signature, bytes index);
}

/// EIP-6110 deposit requests: every `DepositEvent` the deposit contract logged in the block,
/// as `pubkey ‖ withdrawal_credentials ‖ amount ‖ signature ‖ index`.
fn deposit_requests(contract: Address, receipts: &[StoredReceipt]) -> Result<Bytes, String> {
    use alloy_sol_types::SolEvent;
    let mut out = Vec::new();
    for log in receipts.iter().flat_map(|r| r.envelope.logs()) {
        if log.address != contract || log.topics().first() != Some(&DepositEvent::SIGNATURE_HASH) {
            continue;
        }
        let event = DepositEvent::decode_log_data(&log.data).map_err(|e| e.to_string())?;
        let parts = [
            (&event.pubkey, 48),
            (&event.withdrawal_credentials, 32),
            (&event.amount, 8),
            (&event.signature, 96),
            (&event.index, 8),
        ];
        for (part, length) in parts {
            if part.len() != length {
                return Err(format!("a field of {} bytes where {length} are expected", part.len()));
            }
            out.extend_from_slice(part);
        }
    }
    Ok(out.into())
}

/// What [`EvmNode::import_blocks`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// Blocks executed, checked and recorded.
    pub imported: u64,
    /// Blocks the chain already held with the same hash (a restart).
    pub already_held: u64,
    /// The head after the import.
    pub head: u64,
}

impl EvmNode {
    /// Imports the blocks of a chain file in order: each is executed and checked
    /// ([`Chain::import_block`]), recorded durably in the series, then published. Blocks the
    /// chain already holds are compared by hash and skipped (a restart does not import again;
    /// a different block at that height is an error).
    pub fn import_blocks(&self, blocks: &[Bytes]) -> Result<ImportSummary> {
        if self.network.is_some() {
            return Err(EvmError::InvalidParams(
                "network mode: blocks come from decided heights, not from a chain file".into(),
            ));
        }
        let _mutation = self.mutation.lock();
        let mut summary = ImportSummary::default();
        for raw in blocks {
            let decoded = decode_block(raw)?;
            let (number, hash) = (decoded.header.number, decoded.header.hash_slow());
            {
                let chain = self.chain.read();
                if number <= chain.head_number() {
                    match chain.block(number) {
                        Some(ours) if ours.hash == hash => {
                            summary.already_held += 1;
                            continue;
                        }
                        ours => {
                            return Err(rejected(
                                number,
                                format!(
                                    "the chain holds {} at this height, the file {hash}",
                                    ours.map_or(B256::ZERO, |b| b.hash)
                                ),
                            ));
                        }
                    }
                }
            }
            let block = self.chain.write().import_decoded(decoded, raw.len() as u64)?;
            let event = EvmEvent::BlockImported { raw: raw.clone() }.to_body()?;
            let seq = match append_blocking(&*self.series, vec![event]) {
                Ok(seq) => seq,
                Err(error) => {
                    self.chain.write().rollback();
                    return Err(error.into());
                }
            };
            let block = {
                let mut chain = self.chain.write();
                chain.note_sealed(seq, block.hash);
                chain.publish(block)
            };
            summary.imported += 1;
            let _ = self.new_blocks.send(block);
        }
        summary.head = self.chain.read().head_number();
        Ok(summary)
    }
}
