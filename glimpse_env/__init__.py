"""glimpse-env: image classification as a reinforcement-learning problem of glimpses.

Importing the package registers the environments::

    import gymnasium as gym
    import glimpse_env  # noqa: F401

    env = gym.make("ClutteredMNIST-v0")
    venv = gym.make_vec("ClutteredMNIST-v0", num_envs=1024)  # the native vector env
"""

from glimpse_env.envs import (
    ENV_IDS,
    ClutteredMNISTEnv,
    GlimpseVectorEnv,
    TaskConfig,
    register_envs,
)
from glimpse_env.evaluation import EVAL_SEED, evaluation_key
from glimpse_env.retina import extract_glimpses, integral_image

__version__ = "0.1.0"

register_envs()

__all__ = [
    "ENV_IDS",
    "EVAL_SEED",
    "ClutteredMNISTEnv",
    "GlimpseVectorEnv",
    "TaskConfig",
    "__version__",
    "evaluation_key",
    "extract_glimpses",
    "integral_image",
    "register_envs",
]
