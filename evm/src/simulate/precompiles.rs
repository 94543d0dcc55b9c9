//! The precompiles of a simulated block: the spec's set, where `stateOverrides` may move a
//! precompile to another address (`movePrecompileToAddress`) or replace it with code.

use alloy_primitives::{Address, map::HashMap};
use revm::{
    context::Cfg,
    context_interface::{ContextTr, JournalTr, LocalContextTr},
    handler::{PrecompileProvider, precompile_output_to_interpreter_result},
    interpreter::{CallInputs, InterpreterResult},
    precompile::{Precompile, PrecompileSpecId, Precompiles},
    primitives::{AddressSet, hardfork::SpecId},
};

/// The precompiles of one simulated block.
#[derive(Debug, Clone)]
pub(crate) struct SimPrecompiles {
    /// The precompile at each address.
    by_address: HashMap<Address, Precompile>,
    /// The addresses of the fork's own precompiles: warm from the start of every transaction
    /// whatever was moved or overridden (as in geth, which warms the fork's set).
    addresses: AddressSet,
}

impl SimPrecompiles {
    /// The precompiles of `spec`, unmoved.
    pub(crate) fn new(spec: SpecId) -> Self {
        let standard = Precompiles::new(PrecompileSpecId::from_spec_id(spec));
        let by_address: HashMap<Address, Precompile> = standard
            .addresses()
            .filter_map(|address| standard.get(address).map(|p| (*address, p.clone())))
            .collect();
        let addresses = by_address.keys().copied().collect();
        Self { by_address, addresses }
    }

    /// Whether a precompile is at `address`.
    pub(crate) fn contains(&self, address: &Address) -> bool {
        self.by_address.contains_key(address)
    }

    /// Moves the precompile at `from` to `to` (whatever precompile was at `to` is lost).
    pub(crate) fn relocate(&mut self, from: Address, to: Address) {
        if let Some(precompile) = self.by_address.get(&from).cloned() {
            self.by_address.insert(to, precompile);
        }
    }

    /// Removes the precompile at `address` (its account is overridden).
    pub(crate) fn remove(&mut self, address: &Address) {
        self.by_address.remove(address);
    }
}

impl<CTX: ContextTr> PrecompileProvider<CTX> for SimPrecompiles {
    type Output = InterpreterResult;

    fn set_spec(&mut self, _spec: <CTX::Cfg as Cfg>::Spec) -> bool {
        // The set is built for the block's spec and then edited: keep it.
        true
    }

    fn run(
        &mut self,
        context: &mut CTX,
        inputs: &CallInputs,
    ) -> Result<Option<InterpreterResult>, String> {
        let Some(precompile) = self.by_address.get(&inputs.bytecode_address) else {
            return Ok(None);
        };
        let output = precompile
            .execute(&inputs.input.as_bytes(context), inputs.gas_limit, inputs.reservoir)
            .map_err(|e| e.to_string())?;
        if let Some(halt) = output.halt_reason()
            && !halt.is_oog()
            && context.journal().depth() == 1
        {
            context.local_mut().set_precompile_error_context(halt.to_string());
        }
        Ok(Some(precompile_output_to_interpreter_result(output, inputs.gas_limit)))
    }

    fn warm_addresses(&self) -> &AddressSet {
        &self.addresses
    }

    fn contains(&self, address: &Address) -> bool {
        self.by_address.contains_key(address)
    }
}
