"""A fast hasher for secrets the platform generates itself, such as one-time passwords.

Slow hashers (PBKDF2, scrypt) protect passwords people choose, which are guessable. A
secret drawn from ``secrets`` with 190 bits of entropy cannot be guessed, so a salted
SHA-256 protects it as well, in microseconds instead of a third of a second. That keeps
tenant creation fast. ``must_update`` is always true, so Django re-hashes the password
with the default (slow) hasher the first time it is used to log in.
"""

import hashlib

from django.contrib.auth.hashers import BasePasswordHasher, mask_hash
from django.utils.crypto import constant_time_compare

GENERATED_SECRET_HASHER = "generated_sha256"


class GeneratedSecretHasher(BasePasswordHasher):
    algorithm = GENERATED_SECRET_HASHER

    def encode(self, password: str, salt: str) -> str:
        self._check_encode_args(password, salt)
        digest = hashlib.sha256(f"{salt}${password}".encode()).hexdigest()
        return f"{self.algorithm}${salt}${digest}"

    def decode(self, encoded: str) -> dict:
        algorithm, salt, digest = encoded.split("$", 2)
        assert algorithm == self.algorithm
        return {"algorithm": algorithm, "hash": digest, "salt": salt}

    def verify(self, password: str, encoded: str) -> bool:
        decoded = self.decode(encoded)
        return constant_time_compare(encoded, self.encode(password, decoded["salt"]))

    def safe_summary(self, encoded: str) -> dict:
        decoded = self.decode(encoded)
        return {
            "algorithm": decoded["algorithm"],
            "salt": mask_hash(decoded["salt"]),
            "hash": mask_hash(decoded["hash"]),
        }

    def must_update(self, encoded: str) -> bool:
        return True

    def harden_runtime(self, password: str, encoded: str) -> None:
        pass
