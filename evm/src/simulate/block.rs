//! One simulated block: its environment, state overrides, system calls, calls, and the block
//! object geth would return for it.

use std::collections::HashSet;

use alloy_consensus::{
    Block, BlockBody, EMPTY_OMMER_ROOT_HASH, Eip658Value, Header, Receipt, ReceiptEnvelope, Signed,
    Transaction as _, TxEip1559, TxEip4844, TxEip4844Variant, TxEip7702, TxEnvelope, TxLegacy,
    TxReceipt, proofs, transaction::Recovered,
};
use alloy_eips::{
    calc_next_block_base_fee,
    eip1559::BaseFeeParams,
    eip2935::HISTORY_STORAGE_ADDRESS,
    eip4788::{BEACON_ROOTS_ADDRESS, SYSTEM_ADDRESS},
    eip4844::DATA_GAS_PER_BLOB,
    eip4895::Withdrawals,
    eip7002::WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS,
    eip7251::CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS,
    eip7685::Requests,
    eip7840::BlobParams,
};
use alloy_primitives::{Address, B256, Bloom, Bytes, Signature, TxKind, U256};
use alloy_rlp::Encodable;
use alloy_rpc_types_eth::{
    self as rpc, TransactionRequest,
    simulate::{SimCallResult, SimulateError, SimulatedBlock},
    state::StateOverride,
};
use alloy_trie::KECCAK_EMPTY;
use revm::{
    Database, DatabaseCommit, InspectCommitEvm, SystemCallEvm,
    context::{
        BlockEnv, Evm, TxEnv,
        result::{EVMError, ExecResultAndState, ExecutionResult, InvalidTransaction},
    },
    context_interface::block::BlobExcessGasAndPrice,
    database::{AccountState, CacheDB},
    handler::{EthFrame, MainnetContext, instructions::EthInstructions},
    interpreter::interpreter::EthInterpreter,
    primitives::hardfork::SpecId,
};

use super::{PlannedBlock, SIMULATE_GAS_CAP, SimulatePayload, precompiles::SimPrecompiles};
use crate::{
    block::StoredBlock,
    call::{CallDb, apply_account_override},
    chain::Chain,
    error::{EvmError, Result, SimulateErrorKind},
    events::BlockContext,
    execute::{build_evm_with_precompiles, decode_revert_reason, evm_env, halt_message},
    simulate::tracer::{IndexedLog, LogTracer},
    state::{AccountRecord, SpeculativeAccount, StateReadError},
};

/// One gwei in wei (withdrawal amounts are in gwei).
const GWEI: u64 = 1_000_000_000;
/// Base fee of the first London block.
const INITIAL_BASE_FEE: u64 = 1_000_000_000;
/// The JSON-RPC code of a call that failed in the EVM (not a revert).
const VM_ERROR_CODE: i32 = -32015;
/// The JSON-RPC code of a reverted call.
const REVERTED_CODE: i32 = 3;

/// The EVM of a simulated block.
type SimEvm<'e, 'a> = Evm<
    MainnetContext<&'e mut CallDb<'a>>,
    LogTracer,
    EthInstructions<EthInterpreter, MainnetContext<&'e mut CallDb<'a>>>,
    SimPrecompiles,
    EthFrame,
>;

/// The block a simulated block is built on: the base block, then each simulated one.
#[derive(Debug, Clone)]
pub(crate) struct Parent {
    header: Header,
    hash: B256,
}

impl Parent {
    /// A block of the chain as the parent of the first simulated block.
    pub(crate) fn of(block: &StoredBlock) -> Self {
        Self { header: block.header.clone(), hash: block.hash }
    }
}

/// The state the blocks of one request run on, and the request's settings.
pub(crate) struct Simulator<'a> {
    chain: &'a Chain,
    db: CallDb<'a>,
    validate: bool,
    trace_transfers: bool,
    full_transactions: bool,
    /// Gas the request's calls may still use ([`SIMULATE_GAS_CAP`]).
    budget: u64,
}

fn read_failed(error: StateReadError) -> EvmError {
    EvmError::Internal(error.to_string())
}

impl<'a> Simulator<'a> {
    /// A simulation over the post-state of block `base`.
    pub(crate) fn new(chain: &'a Chain, base: u64, payload: &SimulatePayload) -> Result<Self> {
        let mut db = CacheDB::new(chain.state_at(base));
        // The state root of a simulated block is the tries' root with every changed account
        // rewritten: the accounts and slots whose value at `base` the tries may not hold are
        // read now, so that they are among them.
        if let Some(stale) = chain.state().keys_since(chain.revision_of(base)) {
            for address in stale.accounts {
                db.load_account(address).map_err(read_failed)?;
            }
            for (address, slot) in stale.slots {
                Database::storage(&mut db, address, slot).map_err(read_failed)?;
            }
        }
        Ok(Self {
            chain,
            db,
            validate: payload.validation,
            trace_transfers: payload.trace_transfers,
            full_transactions: payload.return_full_transactions,
            budget: SIMULATE_GAS_CAP,
        })
    }

    /// Simulates one block on top of `parent`: its object and the parent of the next one.
    pub(crate) fn simulate_block(
        &mut self,
        planned: &PlannedBlock<'_>,
        parent: &Parent,
    ) -> Result<(SimulatedBlock, Parent)> {
        let config = self.chain.config();
        let spec = config.spec_at(planned.number, planned.timestamp);
        let (london, shanghai, cancun, prague) = (
            spec >= SpecId::LONDON,
            spec >= SpecId::SHANGHAI,
            spec >= SpecId::CANCUN,
            spec >= SpecId::PRAGUE,
        );
        let overrides = planned.overrides;
        let gas_limit = overrides.and_then(|o| o.gas_limit).unwrap_or(parent.header.gas_limit);
        let coinbase = overrides.and_then(|o| o.coinbase).unwrap_or(parent.header.beneficiary);
        let prevrandao = overrides.and_then(|o| o.random).unwrap_or_default();
        let beacon_root = overrides.and_then(|o| o.beacon_root).unwrap_or_default();
        let base_fee = if london {
            Some(match overrides.and_then(|o| o.base_fee) {
                Some(fee) => u64::try_from(fee).map_err(|_| {
                    EvmError::simulate(SimulateErrorKind::InvalidParams, "base fee too large")
                })?,
                None if self.validate => next_base_fee(&parent.header),
                None => 0,
            })
        } else {
            None
        };
        let params = config
            .blob_params_at(planned.number, planned.timestamp)
            .unwrap_or_else(BlobParams::cancun);
        let excess_blob_gas = if cancun {
            crate::fees::excess_blob_gas_after(config, &parent.header, planned.timestamp)
        } else {
            0
        };
        let blob_gasprice = match overrides.and_then(|o| o.blob_base_fee) {
            Some(fee) => u128::try_from(fee).map_err(|_| {
                EvmError::simulate(SimulateErrorKind::InvalidParams, "blob base fee too large")
            })?,
            None => params.calc_blob_fee(excess_blob_gas),
        };
        let context = BlockContext {
            number: planned.number,
            timestamp: planned.timestamp,
            base_fee: base_fee.unwrap_or_default(),
            gas_limit,
            coinbase,
            prevrandao,
        };
        let (mut cfg, _) = evm_env(config, &context, excess_blob_gas);
        cfg.disable_base_fee = !self.validate;
        cfg.disable_nonce_check = !self.validate;
        // geth skips the transaction checks (EIP-7825 gas cap, sender code) of simulated calls.
        cfg.tx_gas_limit_cap = Some(u64::MAX);
        let block_env = BlockEnv {
            number: U256::from(planned.number),
            beneficiary: coinbase,
            timestamp: U256::from(planned.timestamp),
            gas_limit,
            basefee: base_fee.unwrap_or_default(),
            difficulty: U256::ZERO,
            prevrandao: Some(prevrandao),
            blob_excess_gas_and_price: cancun
                .then_some(BlobExcessGasAndPrice { excess_blob_gas, blob_gasprice }),
            ..Default::default()
        };

        let mut precompiles = SimPrecompiles::new(spec);
        if let Some(state) = planned.state {
            self.apply_state_overrides(state, &mut precompiles)?;
        }

        let chain_id = config.chain_id;
        let validate = self.validate;
        let mut budget = self.budget;
        let tracer = LogTracer::new(self.trace_transfers);
        let mut evm = build_evm_with_precompiles(&mut self.db, cfg, block_env, tracer, precompiles);
        if cancun {
            system_call(&mut evm, BEACON_ROOTS_ADDRESS, Bytes::copy_from_slice(&beacon_root.0))?;
        }
        if prague {
            system_call(&mut evm, HISTORY_STORAGE_ADDRESS, Bytes::copy_from_slice(&parent.hash.0))?;
        }

        let mut executed = Vec::with_capacity(planned.calls.len());
        let mut gas_used = 0u64;
        let mut blob_gas_used = 0u64;
        for (index, call) in planned.calls.iter().enumerate() {
            let from = call.from.unwrap_or_default();
            let nonce = match call.nonce {
                Some(nonce) => nonce,
                None => evm
                    .ctx
                    .journaled_state
                    .database
                    .basic(from)
                    .map_err(read_failed)?
                    .map(|a| a.nonce)
                    .unwrap_or_default(),
            };
            let remaining = gas_limit.saturating_sub(gas_used);
            let requested = call.gas.unwrap_or(remaining);
            if requested > remaining {
                return Err(EvmError::simulate(
                    SimulateErrorKind::BlockGasLimitReached,
                    format!(
                        "block gas limit reached: remaining: {remaining}, required: {requested}"
                    ),
                ));
            }
            let gas = requested.min(budget);
            let (envelope, mut tx) = transaction(call, nonce, gas, base_fee, chain_id)?;
            let supplied = format!("(supplied gas {gas})");
            let state = evm
                .ctx
                .journaled_state
                .database
                .basic(from)
                .map_err(read_failed)?
                .map(|a| a.nonce)
                .unwrap_or_default();
            if validate {
                // geth checks the nonce before anything else.
                check_nonce(from, nonce, state).map_err(|(kind, message)| {
                    EvmError::simulate(kind, format!("err: {message} {supplied}"))
                })?;
            } else if tx.nonce == u64::MAX {
                // revm refuses a nonce that cannot be incremented even unchecked; geth wraps.
                tx.nonce -= 1;
            }
            let result = evm.inspect_tx_commit(tx).map_err(|e| tx_error(e, from, gas))?;
            if !validate && state == u64::MAX {
                // geth's sender nonce wraps to 0 where revm's saturates.
                let account =
                    evm.ctx.journaled_state.database.load_account(from).map_err(read_failed)?;
                account.info.nonce = 0;
            }
            let logs = evm.inspector.take_logs();
            let used = result.tx_gas_used();
            budget = budget.saturating_sub(used);
            gas_used += used;
            blob_gas_used += DATA_GAS_PER_BLOB
                * envelope.blob_versioned_hashes().map_or(0, |hashes| hashes.len() as u64);
            let gas = result.gas();
            let max_used = gas.total_gas_spent().max(gas.floor_gas()).max(used);
            executed.push(Executed {
                index,
                from,
                envelope,
                result,
                logs,
                gas_used: used,
                max_used,
                cumulative: gas_used,
            });
        }

        let mut requests = Requests::default();
        if prague {
            for (kind, contract) in [
                (1u8, WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS),
                (2u8, CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS),
            ] {
                if let Some(output) = system_call(&mut evm, contract, Bytes::new())?
                    && !output.is_empty()
                {
                    requests.push_request_with_type(kind, output);
                }
            }
        }
        drop(evm);
        self.budget = budget;

        for withdrawal in planned.withdrawals {
            let account = self.db.load_account(withdrawal.address).map_err(read_failed)?;
            let amount = U256::from(withdrawal.amount) * U256::from(GWEI);
            account.info.balance = account.info.balance.saturating_add(amount);
            if matches!(account.account_state, AccountState::NotExisting) {
                account.account_state = AccountState::Touched;
            }
        }
        if spec < SpecId::MERGE {
            // As geth's engine finalizes a simulated block: the proof-of-work block reward.
            let account = self.db.load_account(coinbase).map_err(read_failed)?;
            let reward = U256::from(crate::import::block_reward(spec));
            account.info.balance = account.info.balance.saturating_add(reward);
            if matches!(account.account_state, AccountState::NotExisting) {
                account.account_state = AccountState::Touched;
            }
        }
        let state_root = self.state_root(spec >= SpecId::SPURIOUS_DRAGON)?;

        let receipts: Vec<ReceiptEnvelope> = executed.iter().map(Executed::receipt).collect();
        let transactions: Vec<TxEnvelope> = executed.iter().map(|e| e.envelope.clone()).collect();
        let logs_bloom = receipts.iter().fold(Bloom::ZERO, |mut bloom, r| {
            bloom.accrue_bloom(&r.bloom());
            bloom
        });
        let header = Header {
            parent_hash: parent.hash,
            ommers_hash: EMPTY_OMMER_ROOT_HASH,
            beneficiary: coinbase,
            state_root,
            transactions_root: proofs::calculate_transaction_root(&transactions),
            receipts_root: proofs::calculate_receipt_root(&receipts),
            logs_bloom,
            // Before the merge geth's simulated blocks keep their parent's difficulty.
            difficulty: if spec >= SpecId::MERGE { U256::ZERO } else { parent.header.difficulty },
            number: planned.number,
            gas_limit,
            gas_used,
            timestamp: planned.timestamp,
            extra_data: Bytes::new(),
            mix_hash: prevrandao,
            nonce: Default::default(),
            base_fee_per_gas: base_fee,
            withdrawals_root: shanghai
                .then(|| proofs::calculate_withdrawals_root(planned.withdrawals)),
            blob_gas_used: cancun.then_some(blob_gas_used),
            excess_blob_gas: cancun.then_some(excess_blob_gas),
            parent_beacon_block_root: cancun.then_some(beacon_root),
            requests_hash: prague.then(|| requests.requests_hash()),
            ..Default::default()
        };
        let hash = header.hash_slow();
        let withdrawals = shanghai.then(|| Withdrawals::new(planned.withdrawals.to_vec()));
        let size = Block {
            header: header.clone(),
            body: BlockBody {
                transactions: transactions.clone(),
                ommers: Vec::new(),
                withdrawals: withdrawals.clone(),
            },
        }
        .length();
        self.db.cache.block_hashes.insert(U256::from(planned.number), hash);

        let calls = executed.iter().map(|e| e.call_result(&header, hash)).collect();
        let rpc_transactions = if self.full_transactions {
            rpc::BlockTransactions::Full(
                executed.iter().map(|e| e.rpc_transaction(&header, hash)).collect(),
            )
        } else {
            rpc::BlockTransactions::Hashes(transactions.iter().map(|tx| *tx.tx_hash()).collect())
        };
        let block = rpc::Block {
            header: rpc::Header {
                hash,
                inner: header.clone(),
                total_difficulty: None,
                size: Some(U256::from(size)),
            },
            uncles: Vec::new(),
            transactions: rpc_transactions,
            withdrawals,
        };
        Ok((SimulatedBlock { inner: block, calls }, Parent { header, hash }))
    }

    /// Applies a block's state overrides as geth does: in address order, a precompile may be
    /// moved elsewhere (`movePrecompileToAddress`), and an overridden precompile is one no more.
    fn apply_state_overrides(
        &mut self,
        overrides: &StateOverride,
        precompiles: &mut SimPrecompiles,
    ) -> Result<()> {
        let invalid =
            |message: String| EvmError::simulate(SimulateErrorKind::InvalidOverride, message);
        let mut addresses: Vec<&Address> = overrides.keys().collect();
        addresses.sort();
        let mut moved_to: HashSet<Address> = HashSet::new();
        for address in addresses {
            let address = *address;
            let Some(account) = overrides.get(&address) else { continue };
            if moved_to.contains(&address) {
                return Err(invalid(format!(
                    "account {address} has already been overridden by a precompile"
                )));
            }
            let is_precompile = precompiles.contains(&address);
            if let Some(target) = account.move_precompile_to {
                if !is_precompile {
                    return Err(invalid(format!("account {address} is not a precompile")));
                }
                if overrides.contains_key(&target) {
                    return Err(invalid(format!("account {target} is already overridden")));
                }
                precompiles.relocate(address, target);
                moved_to.insert(target);
            }
            if is_precompile {
                precompiles.remove(&address);
            }
            apply_account_override(&mut self.db, address, account).map_err(|e| match e {
                EvmError::InvalidParams(message) => invalid(message),
                other => other,
            })?;
        }
        Ok(())
    }

    /// The state root after the blocks simulated so far: the tries' root with every account
    /// the simulation read or wrote rewritten with its value. Empty accounts are removed from
    /// Spurious Dragon on (`state_clear`); before it, they stay as they are.
    fn state_root(&self, state_clear: bool) -> Result<B256> {
        let mut accounts: Vec<SpeculativeAccount> = self
            .db
            .cache
            .accounts
            .iter()
            .map(|(address, account)| {
                let info = &account.info;
                let empty = info.nonce == 0
                    && info.balance.is_zero()
                    && (info.code_hash == KECCAK_EMPTY || info.code_hash.is_zero());
                let missing = matches!(account.account_state, AccountState::NotExisting);
                let exists = !(missing || (empty && state_clear));
                SpeculativeAccount {
                    address: *address,
                    record: exists.then_some(AccountRecord {
                        balance: info.balance,
                        nonce: info.nonce,
                        code_hash: info.code_hash,
                    }),
                    storage_cleared: matches!(account.account_state, AccountState::StorageCleared),
                    slots: account.storage.iter().map(|(k, v)| (*k, *v)).collect(),
                }
            })
            .collect();
        accounts.sort_unstable_by_key(|a| a.address);
        self.chain
            .state()
            .speculative_root(&accounts)
            .map_err(|e| EvmError::Internal(e.to_string()))
    }
}

/// A call after execution.
struct Executed {
    index: usize,
    from: Address,
    envelope: TxEnvelope,
    result: ExecutionResult,
    logs: Vec<IndexedLog>,
    gas_used: u64,
    max_used: u64,
    cumulative: u64,
}

impl Executed {
    fn receipt(&self) -> ReceiptEnvelope {
        let logs = if self.result.is_success() { self.result.logs().to_vec() } else { Vec::new() };
        let receipt = Receipt {
            status: Eip658Value::Eip658(self.result.is_success()),
            cumulative_gas_used: self.cumulative,
            logs,
        };
        ReceiptEnvelope::from_typed(self.envelope.tx_type(), receipt.with_bloom())
    }

    fn call_result(&self, header: &Header, hash: B256) -> SimCallResult {
        let tx_hash = *self.envelope.tx_hash();
        let logs = self
            .logs
            .iter()
            .map(|indexed| rpc::Log {
                inner: indexed.log.clone(),
                block_hash: Some(hash),
                block_number: Some(header.number),
                block_timestamp: Some(header.timestamp),
                transaction_hash: Some(tx_hash),
                transaction_index: Some(self.index as u64),
                log_index: Some(indexed.index),
                removed: false,
            })
            .collect();
        let (return_data, error) = match &self.result {
            ExecutionResult::Success { output, .. } => (output.data().clone(), None),
            ExecutionResult::Revert { output, .. } => {
                let message = match decode_revert_reason(output) {
                    Some(reason) => format!("execution reverted: {reason}"),
                    None => "execution reverted".to_string(),
                };
                let error =
                    SimulateError { code: REVERTED_CODE, message, data: Some(output.clone()) };
                (Bytes::new(), Some(error))
            }
            ExecutionResult::Halt { reason, .. } => {
                let error = SimulateError {
                    code: VM_ERROR_CODE,
                    message: halt_message(reason),
                    data: None,
                };
                (Bytes::new(), Some(error))
            }
        };
        SimCallResult {
            return_data,
            logs,
            gas_used: self.gas_used,
            max_used_gas: Some(self.max_used),
            status: self.result.is_success(),
            error,
        }
    }

    fn rpc_transaction(&self, header: &Header, hash: B256) -> rpc::Transaction {
        rpc::Transaction {
            inner: Recovered::new_unchecked(self.envelope.clone(), self.from),
            block_hash: Some(hash),
            block_number: Some(header.number),
            transaction_index: Some(self.index as u64),
            effective_gas_price: Some(self.envelope.effective_gas_price(header.base_fee_per_gas)),
            block_timestamp: Some(header.timestamp),
        }
    }
}

/// Calls a system contract (EIP-4788, EIP-2935, EIP-7002, EIP-7251) as the block's fork does,
/// keeping its changes; its output if it succeeded. A contract without code (a chain without
/// the system contracts) is not called.
fn system_call(evm: &mut SimEvm<'_, '_>, contract: Address, data: Bytes) -> Result<Option<Bytes>> {
    let db = &mut evm.ctx.journaled_state.database;
    let deployed = db
        .basic(contract)
        .map_err(read_failed)?
        .is_some_and(|info| info.code_hash != KECCAK_EMPTY && !info.code_hash.is_zero());
    if !deployed {
        return Ok(None);
    }
    let ExecResultAndState { result, mut state } = evm
        .system_call_with_caller(SYSTEM_ADDRESS, contract, data)
        .map_err(crate::execute::evm_error)?;
    // The system address is only touched, never kept (EIP-158).
    state.remove(&SYSTEM_ADDRESS);
    evm.ctx.journaled_state.database.commit(state);
    Ok(match result {
        ExecutionResult::Success { output, .. } => Some(output.into_data()),
        _ => None,
    })
}

/// The base fee of the block after `parent` (EIP-1559).
fn next_base_fee(parent: &Header) -> u64 {
    match parent.base_fee_per_gas {
        Some(base_fee) => calc_next_block_base_fee(
            parent.gas_used,
            parent.gas_limit,
            base_fee,
            BaseFeeParams::ethereum(),
        ),
        None => INITIAL_BASE_FEE,
    }
}

/// The transaction a call becomes (geth's `ToTransaction` with dynamic fees by default,
/// unsigned: its hash is geth's) and the environment it executes in.
fn transaction(
    call: &TransactionRequest,
    nonce: u64,
    gas: u64,
    base_fee: Option<u64>,
    chain_id: u64,
) -> Result<(TxEnvelope, TxEnv)> {
    let params = |message: String| EvmError::simulate(SimulateErrorKind::InvalidOverride, message);
    if call.gas_price.is_some()
        && (call.max_fee_per_gas.is_some() || call.max_priority_fee_per_gas.is_some())
    {
        return Err(params(
            "both gasPrice and (maxFeePerGas or maxPriorityFeePerGas) specified".into(),
        ));
    }
    if let Some(have) = call.chain_id
        && have != chain_id
    {
        return Err(params(format!(
            "chainId does not match node's (have={have}, want={chain_id})"
        )));
    }
    let input = crate::call::call_input(call)?;
    let value = call.value.unwrap_or_default();
    let kind = call.to.unwrap_or(TxKind::Create);
    let access_list = call.access_list.clone().unwrap_or_default();
    // Without a base fee (before London) every call is a legacy transaction priced at 0.
    let gas_price = call.gas_price.or(base_fee.is_none().then_some(0));
    let max_fee = call.max_fee_per_gas.unwrap_or_default();
    let tip = call.max_priority_fee_per_gas.unwrap_or_default();
    let signature = Signature::new(U256::ZERO, U256::ZERO, false);
    let needs_to = |what: &str| params(format!("{what} transactions need a \"to\" address"));
    let envelope = if let Some(gas_price) = gas_price {
        TxEnvelope::Legacy(Signed::new_unhashed(
            TxLegacy {
                chain_id: Some(chain_id),
                nonce,
                gas_price,
                gas_limit: gas,
                to: kind,
                value,
                input,
            },
            signature,
        ))
    } else if let Some(authorizations) = &call.authorization_list {
        let to = kind.to().copied().ok_or_else(|| needs_to("set-code"))?;
        TxEnvelope::Eip7702(Signed::new_unhashed(
            TxEip7702 {
                chain_id,
                nonce,
                gas_limit: gas,
                max_fee_per_gas: max_fee,
                max_priority_fee_per_gas: tip,
                to,
                value,
                access_list,
                authorization_list: authorizations.clone(),
                input,
            },
            signature,
        ))
    } else if let Some(hashes) = &call.blob_versioned_hashes {
        let to = kind.to().copied().ok_or_else(|| needs_to("blob"))?;
        TxEnvelope::Eip4844(Signed::new_unhashed(
            TxEip4844Variant::TxEip4844(TxEip4844 {
                chain_id,
                nonce,
                gas_limit: gas,
                max_fee_per_gas: max_fee,
                max_priority_fee_per_gas: tip,
                to,
                value,
                access_list,
                blob_versioned_hashes: hashes.clone(),
                max_fee_per_blob_gas: call.max_fee_per_blob_gas.unwrap_or_default(),
                input,
            }),
            signature,
        ))
    } else {
        TxEnvelope::Eip1559(Signed::new_unhashed(
            TxEip1559 {
                chain_id,
                nonce,
                gas_limit: gas,
                max_fee_per_gas: max_fee,
                max_priority_fee_per_gas: tip,
                to: kind,
                value,
                access_list,
                input,
            },
            signature,
        ))
    };
    let tx = crate::execute::tx_env_of(&envelope, call.from.unwrap_or_default());
    Ok((envelope, tx))
}

/// geth's nonce checks of a validated call, in its order.
fn check_nonce(
    from: Address,
    nonce: u64,
    state: u64,
) -> std::result::Result<(), (SimulateErrorKind, String)> {
    use SimulateErrorKind as Kind;
    if state < nonce {
        return Err((
            Kind::NonceTooHigh,
            format!("nonce too high: address {from}, tx: {nonce} state: {state}"),
        ));
    }
    if state > nonce {
        return Err((
            Kind::NonceTooLow,
            format!("nonce too low: address {from}, tx: {nonce} state: {state}"),
        ));
    }
    if state == u64::MAX {
        return Err((
            Kind::Internal,
            format!("nonce has max value: address {from}, nonce: {state}"),
        ));
    }
    Ok(())
}

/// A call the EVM refused, as the spec's error (geth's codes and wording).
fn tx_error(error: EVMError<StateReadError>, from: Address, gas: u64) -> EvmError {
    use SimulateErrorKind as Kind;
    let invalid = match error {
        EVMError::Transaction(invalid) => invalid,
        other => return crate::execute::evm_error(other),
    };
    let supplied = format!("(supplied gas {gas})");
    let (kind, message) = match invalid {
        InvalidTransaction::NonceTooHigh { tx, state } => {
            (Kind::NonceTooHigh, format!("nonce too high: address {from}, tx: {tx} state: {state}"))
        }
        InvalidTransaction::NonceTooLow { tx, state } => {
            (Kind::NonceTooLow, format!("nonce too low: address {from}, tx: {tx} state: {state}"))
        }
        InvalidTransaction::RejectCallerWithCode => {
            (Kind::SenderIsNotEoa, format!("sender not an eoa: address {from}"))
        }
        InvalidTransaction::GasPriceLessThanBasefee => (
            Kind::BaseFeeTooLow,
            format!("max fee per gas less than block base fee: address {from}"),
        ),
        InvalidTransaction::LackOfFundForMaxFee { fee, balance } => (
            Kind::InsufficientFunds,
            format!(
                "insufficient funds for gas * price + value: address {from} have {balance} want {fee}"
            ),
        ),
        InvalidTransaction::CallGasCostMoreThanGasLimit { initial_gas, gas_limit } => (
            Kind::IntrinsicGas,
            format!("intrinsic gas too low: have {gas_limit}, want {initial_gas}"),
        ),
        InvalidTransaction::GasFloorMoreThanGasLimit { gas_floor, gas_limit } => (
            Kind::IntrinsicGas,
            format!("intrinsic gas too low: have {gas_limit}, want {gas_floor}"),
        ),
        InvalidTransaction::CreateInitCodeSizeLimit => {
            (Kind::MaxInitCodeSizeExceeded, "max initcode size exceeded".to_string())
        }
        InvalidTransaction::PriorityFeeGreaterThanMaxFee => (
            Kind::InvalidParams,
            format!("max priority fee per gas higher than max fee per gas: address {from}"),
        ),
        InvalidTransaction::NonceOverflowInTransaction => {
            (Kind::Internal, format!("nonce has max value: address {from}"))
        }
        other => (Kind::Internal, other.to_string()),
    };
    EvmError::simulate(kind, format!("err: {message} {supplied}"))
}
