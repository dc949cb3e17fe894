//! Playbooks (WIP).
