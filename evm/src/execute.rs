//! Running transactions through revm on top of a [`StateAt`] view.

use std::{collections::HashSet, sync::Arc};

use alloy_consensus::{
    Eip658Value, Receipt, ReceiptEnvelope, Transaction as _, TxEnvelope, TxReceipt,
};
use alloy_primitives::{Address, Bloom, Bytes, Log, U256};
use alloy_sol_types::{Panic, Revert, SolError};
use revm::{
    Context, Database, ExecuteEvm, MainBuilder, MainContext, MainnetEvm,
    context::{
        BlockEnv, CfgEnv, Evm, TxEnv,
        result::{EVMError, ExecutionResult, HaltReason, InvalidTransaction},
    },
    context_interface::{block::BlobExcessGasAndPrice, either::Either},
    database_interface::WrapDatabaseRef,
    handler::{EthFrame, MainnetContext, instructions::EthInstructions},
    interpreter::interpreter::EthInterpreter,
    primitives::TxKind,
    state::EvmState,
};

use crate::{
    block::{SignedTx, StoredReceipt},
    config::ChainConfig,
    error::EvmError,
    events::BlockContext,
    state::{StateAt, StateReadError},
};

/// The one place an EVM is built: a mainnet EVM over `db` in configuration `cfg` and block
/// `block` (both from [`evm_env`]), observed by `inspector` (`()` for none). Blocks, calls,
/// estimates, access lists and traces all execute through it.
pub fn build_evm<DB: Database, I>(
    db: DB,
    cfg: CfgEnv,
    block: BlockEnv,
    inspector: I,
) -> MainnetEvm<MainnetContext<DB>, I> {
    Context::mainnet()
        .with_db(db)
        .with_cfg(cfg)
        .with_block(block)
        .build_mainnet_with_inspector(inspector)
}

/// [`build_evm`] with another precompile provider: `eth_simulateV1` moves precompiles to other
/// addresses and replaces them with code.
pub fn build_evm_with_precompiles<DB: Database, I, P>(
    db: DB,
    cfg: CfgEnv,
    block: BlockEnv,
    inspector: I,
    precompiles: P,
) -> Evm<MainnetContext<DB>, I, EthInstructions<EthInterpreter, MainnetContext<DB>>, P, EthFrame> {
    let spec = cfg.spec;
    let context = Context::mainnet().with_db(db).with_cfg(cfg).with_block(block);
    Evm::new_with_inspector(
        context,
        inspector,
        EthInstructions::new_mainnet_with_spec(spec),
        precompiles,
    )
}

/// The revm configuration and block environment for a block of this chain with this excess
/// blob gas (its header's, or [`crate::chain::Chain::next_excess_blob_gas`] for a new block).
pub fn evm_env(
    config: &ChainConfig,
    context: &BlockContext,
    excess_blob_gas: u64,
) -> (CfgEnv, BlockEnv) {
    let spec = config.spec_at(context.number, context.timestamp);
    let mut cfg = CfgEnv::new_with_spec(spec);
    cfg.chain_id = config.chain_id;
    // Impersonated accounts may be contracts (as in Anvil).
    cfg.disable_eip3607 = true;
    let block = BlockEnv {
        number: U256::from(context.number),
        beneficiary: context.coinbase,
        timestamp: U256::from(context.timestamp),
        gas_limit: context.gas_limit,
        basefee: context.base_fee,
        difficulty: U256::ZERO,
        prevrandao: Some(context.prevrandao),
        blob_excess_gas_and_price: config.blob_params_at(context.number, context.timestamp).map(
            |params| BlobExcessGasAndPrice::new(excess_blob_gas, params.update_fraction as u64),
        ),
        ..Default::default()
    };
    (cfg, block)
}

/// The environment of an existing (sealed or imported) block, from its header: its fork (the
/// schedule's, told by its difficulty whether it is past the merge), difficulty or
/// `prevrandao`, base fee and excess blob gas as the header says.
pub fn header_env(config: &ChainConfig, header: &alloy_consensus::Header) -> (CfgEnv, BlockEnv) {
    let (number, timestamp) = (header.number, header.timestamp);
    let (spec, merged) = match &config.schedule {
        Some(schedule) => {
            let merged = schedule.is_merged(number, header.difficulty);
            (schedule.spec_with(number, timestamp, merged), merged)
        }
        None => (config.spec, true),
    };
    let context = BlockContext {
        number,
        timestamp,
        base_fee: header.base_fee_per_gas.unwrap_or_default(),
        gas_limit: header.gas_limit,
        coinbase: header.beneficiary,
        prevrandao: header.mix_hash,
    };
    let (mut cfg, mut block) =
        evm_env(config, &context, header.excess_blob_gas.unwrap_or_default());
    cfg.spec = spec;
    if !merged {
        block.difficulty = header.difficulty;
        block.prevrandao = None;
    }
    (cfg, block)
}

/// Converts a signed transaction into revm's transaction environment.
pub fn tx_env(tx: &SignedTx) -> TxEnv {
    tx_env_of(&tx.envelope, tx.sender)
}

/// revm's transaction environment of `envelope` sent by `caller`.
pub fn tx_env_of(envelope: &TxEnvelope, caller: Address) -> TxEnv {
    TxEnv {
        tx_type: envelope.tx_type() as u8,
        caller,
        gas_limit: envelope.gas_limit(),
        gas_price: envelope.max_fee_per_gas(),
        kind: envelope.kind(),
        value: envelope.value(),
        data: envelope.input().clone(),
        nonce: envelope.nonce(),
        chain_id: envelope.chain_id(),
        access_list: envelope.access_list().cloned().unwrap_or_default(),
        gas_priority_fee: envelope.max_priority_fee_per_gas(),
        blob_hashes: envelope.blob_versioned_hashes().map(<[_]>::to_vec).unwrap_or_default(),
        max_fee_per_blob_gas: envelope.max_fee_per_blob_gas().unwrap_or_default(),
        authorization_list: envelope
            .authorization_list()
            .map(|list| list.iter().cloned().map(Either::Left).collect())
            .unwrap_or_default(),
    }
}

/// What happened to the candidate transactions of one block.
#[derive(Debug, Default)]
pub struct BlockExecution {
    /// Included transactions and their receipts, in order.
    pub included: Vec<(Arc<SignedTx>, StoredReceipt)>,
    /// Transactions the EVM refused, with why.
    pub rejected: Vec<(Arc<SignedTx>, EvmError)>,
    /// Transactions left for a later block (no room, or an earlier one of the sender failed).
    pub deferred: Vec<Arc<SignedTx>>,
    /// The state changes of the whole block.
    pub changes: EvmState,
    /// Total gas used.
    pub gas_used: u64,
}

/// Executes candidate transactions in order on top of `parent`, as block `context` with
/// `excess_blob_gas`; blob transactions beyond the block's blob limit wait for a later block.
pub fn execute_block(
    parent: StateAt<'_>,
    config: &ChainConfig,
    context: &BlockContext,
    excess_blob_gas: u64,
    candidates: Vec<Arc<SignedTx>>,
) -> BlockExecution {
    let (cfg, block) = evm_env(config, context, excess_blob_gas);
    let max_blob_gas = config
        .blob_params_at(context.number, context.timestamp)
        .map_or(0, |p| p.max_blob_gas_per_block());
    let mut blob_gas = 0u64;
    let mut evm = build_evm(WrapDatabaseRef(parent), cfg, block, ());
    let mut out = BlockExecution::default();
    let mut blocked_senders: HashSet<Address> = HashSet::new();
    let mut log_index = 0u64;
    for tx in candidates {
        if blocked_senders.contains(&tx.sender) {
            out.deferred.push(tx);
            continue;
        }
        let tx_blob_gas = tx_blob_gas(&tx);
        if out.gas_used.saturating_add(tx.envelope.gas_limit()) > context.gas_limit
            || (tx_blob_gas > 0 && blob_gas + tx_blob_gas > max_blob_gas)
        {
            blocked_senders.insert(tx.sender);
            out.deferred.push(tx);
            continue;
        }
        match evm.transact_one(tx_env(&tx)) {
            Ok(result) => {
                let gas_used = result.tx_gas_used();
                out.gas_used += gas_used;
                blob_gas += tx_blob_gas;
                let contract_address = match tx.envelope.kind() {
                    TxKind::Create => Some(tx.sender.create(tx.nonce())),
                    TxKind::Call(_) => None,
                };
                let success = result.is_success();
                let logs: Vec<Log> = result.into_logs();
                let count = logs.len() as u64;
                let receipt = Receipt {
                    status: Eip658Value::Eip658(success),
                    cumulative_gas_used: out.gas_used,
                    logs,
                };
                let envelope =
                    ReceiptEnvelope::from_typed(tx.envelope.tx_type(), receipt.with_bloom());
                let stored = StoredReceipt {
                    envelope,
                    gas_used,
                    effective_gas_price: tx.envelope.effective_gas_price(Some(context.base_fee)),
                    contract_address,
                    first_log_index: log_index,
                };
                log_index += count;
                out.included.push((tx, stored));
            }
            Err(error) => {
                blocked_senders.insert(tx.sender);
                match &error {
                    EVMError::Transaction(InvalidTransaction::NonceTooHigh { .. }) => {
                        out.deferred.push(tx);
                    }
                    _ => out.rejected.push((tx, evm_error(error))),
                }
            }
        }
    }
    out.changes = evm.finalize();
    out
}

/// The blob gas a transaction uses (EIP-4844): 2^17 per blob.
pub fn tx_blob_gas(tx: &SignedTx) -> u64 {
    tx.envelope
        .blob_versioned_hashes()
        .map_or(0, |h| h.len() as u64 * alloy_eips::eip4844::DATA_GAS_PER_BLOB)
}

/// The blob gas a block's transactions use.
pub fn blob_gas_used(transactions: &[Arc<SignedTx>]) -> u64 {
    transactions.iter().map(|tx| tx_blob_gas(tx)).sum()
}

/// The logs bloom of a block: its receipts' blooms combined.
pub fn logs_bloom<'a>(receipts: impl IntoIterator<Item = &'a ReceiptEnvelope<Log>>) -> Bloom {
    receipts.into_iter().fold(Bloom::ZERO, |mut bloom, receipt| {
        bloom.accrue_bloom(&receipt.bloom());
        bloom
    })
}

/// Maps revm's errors to ours, with geth's wording.
pub fn evm_error(error: EVMError<StateReadError>) -> EvmError {
    match error {
        EVMError::Transaction(invalid) => invalid_tx_error(invalid),
        EVMError::Header(header) => EvmError::Internal(format!("invalid block header: {header}")),
        EVMError::Database(db) => EvmError::Internal(db.to_string()),
        EVMError::Custom(message) => EvmError::Internal(message),
        EVMError::CustomAny(any) => EvmError::Internal(any.to_string()),
    }
}

fn invalid_tx_error(invalid: InvalidTransaction) -> EvmError {
    match invalid {
        InvalidTransaction::NonceTooLow { tx, state } => {
            EvmError::NonceTooLow { got: tx, expected: state }
        }
        InvalidTransaction::LackOfFundForMaxFee { fee, balance } => {
            EvmError::InsufficientFunds { balance: *balance, cost: *fee }
        }
        InvalidTransaction::CallGasCostMoreThanGasLimit { initial_gas, gas_limit } => {
            EvmError::IntrinsicGasTooLow { have: gas_limit, want: initial_gas }
        }
        InvalidTransaction::GasFloorMoreThanGasLimit { gas_floor, gas_limit } => {
            EvmError::IntrinsicGasTooLow { have: gas_limit, want: gas_floor }
        }
        InvalidTransaction::CallerGasLimitMoreThanBlock
        | InvalidTransaction::TxGasLimitGreaterThanCap { .. } => EvmError::GasLimitTooHigh,
        InvalidTransaction::PriorityFeeGreaterThanMaxFee => EvmError::TipAboveFeeCap,
        InvalidTransaction::InvalidChainId => {
            EvmError::InvalidTransaction("invalid chain id for signer".into())
        }
        other => EvmError::InvalidTransaction(other.to_string()),
    }
}

/// Turns a finished execution into its output, or the error a client expects for a revert or a
/// halt.
pub fn execution_output(result: ExecutionResult<HaltReason>) -> Result<Bytes, EvmError> {
    match result {
        ExecutionResult::Success { output, .. } => Ok(output.into_data()),
        ExecutionResult::Revert { output, .. } => {
            Err(EvmError::Reverted { reason: decode_revert_reason(&output), output })
        }
        ExecutionResult::Halt { reason, .. } => Err(EvmError::Halted(halt_message(&reason))),
    }
}

/// Decodes `Error(string)` and `Panic(uint256)` revert data into a human message.
pub fn decode_revert_reason(output: &[u8]) -> Option<String> {
    if let Ok(revert) = Revert::abi_decode(output) {
        return Some(revert.reason);
    }
    if let Ok(panic) = Panic::abi_decode(output) {
        return Some(format!("panic: {:#x}", panic.code));
    }
    None
}

/// Geth's wording for halts.
pub fn halt_message(reason: &HaltReason) -> String {
    match reason {
        HaltReason::OutOfGas(_) => "out of gas".into(),
        HaltReason::OpcodeNotFound | HaltReason::InvalidFEOpcode => "invalid opcode".into(),
        HaltReason::InvalidJump => "invalid jump destination".into(),
        HaltReason::StackUnderflow => "stack underflow".into(),
        HaltReason::StackOverflow => "stack limit reached 1024".into(),
        HaltReason::CreateCollision => "contract address collision".into(),
        HaltReason::OutOfFunds => "insufficient balance for transfer".into(),
        HaltReason::CreateContractSizeLimit => "max code size exceeded".into(),
        HaltReason::CallTooDeep => "max call depth exceeded".into(),
        other => format!("execution halted: {other:?}"),
    }
}
