"""The core that answers Graph: errors, facts, intake, bodies, contracts, OData, routing."""
