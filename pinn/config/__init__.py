"""Run configuration: the typed YAML schema (:mod:`pinn.config.schema`), its adapters to the physics'
parameter objects (:mod:`pinn.config.physics`) and the default configs that ship with the package.

Importing :mod:`pinn.config` reads only YAML (the schema); :mod:`pinn.config.physics` starts JAX.
"""

from pinn.config.schema import (
    Config,
    ConfigError,
    Domain,
    EmergenceConfig,
    ForecastConfig,
    LossConfig,
    NetworkConfig,
    ObservationsConfig,
    PhysicsConfig,
    SolverConfig,
    ToroidsConfig,
    TrainConfig,
    bounded,
    check_key,
    domain_of,
    dump_yaml,
    field_comments,
    from_dict,
    load_config,
    parse_override,
    reference_markdown,
    replace,
    to_dict,
    training_inputs,
    write_resolved,
)

__all__ = [
    "Config", "ConfigError", "Domain", "EmergenceConfig", "ForecastConfig", "LossConfig", "NetworkConfig", "ObservationsConfig",
    "PhysicsConfig", "SolverConfig", "ToroidsConfig", "TrainConfig", "bounded", "check_key", "domain_of",
    "dump_yaml", "field_comments", "from_dict", "load_config", "parse_override", "reference_markdown", "replace",
    "to_dict", "training_inputs", "write_resolved",
]
