"""The executor: data-flow execution of agent graphs (rules E1-E7 of the interoperability contract)."""
