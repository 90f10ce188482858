# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side decisions of the swarm role, pure so that unit tests reach every case."""

DOCUMENTATION = r"""
name: swarm_leader
short_description: Choose the manager that leads a run from every inventory manager's swarm state
version_added: 1.1.0
author: dockyard developers (@dockyard)
description:
  - Takes the swarm state of B(every) host in C(swarm_managers) (not only those in the play) and decides which
    manager leads the run and whether a new swarm may be created.
  - A new swarm is created only when every inventory manager was asked and none is in a swarm. A manager that
    could not be asked, a swarm without a leader (lost quorum), two swarms among the managers (split brain) or a
    locked manager is a problem that stops the run before the swarm changes, with what to do about it.
options:
  _input:
    description: The hosts of C(swarm_managers), in inventory order.
    type: list
    elements: str
    required: true
  engines:
    description:
      - Host name -> the C(engine) result of M(dockyard.fleet.engine_info) for the managers that answered.
        A manager missing here could not be asked.
    type: dict
    required: true
  why:
    description: Host name -> why a manager could not be asked (unreachable, the Engine does not answer).
    type: dict
    default: {}
  inventory:
    description: The inventory's path, for the command the problem suggests.
    type: str
    default: INVENTORY
  predicting:
    description: Check mode before the Engine is installed, where an Engine that is not running is one that will
      start outside any swarm.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Choose the manager that leads this run
  ansible.builtin.set_fact:
    plan: "{{ groups['swarm_managers'] | dockyard.fleet.swarm_leader(engines, why) }}"
"""

RETURN = r"""
_value:
  description: The decision.
  type: dict
  contains:
    leader: {description: The manager that leads the run (empty when there is a problem)., type: str}
    create: {description: Whether the leader creates a new swarm., type: bool}
    problem: {description: Why the swarm must not be changed, and what to do; empty when it may., type: str}
"""


def _names(hosts):
    return ", ".join(hosts)


def _reason(why):
    """The last clause of an SSH or module error ("... port 22: No route to host" -> "No route to host")."""
    return why.rstrip(".").rsplit(": ", 1)[-1]


def swarm_leader(managers, engines, why=None, predicting=False, inventory="INVENTORY"):
    why = why or {}
    recover = f"dockyard swarm recover -i {inventory}"
    unasked, locked, leaderless, members, healthy = [], [], [], [], {}
    for host in managers:
        engine = engines.get(host)
        if engine is None or not (engine.get("running") or predicting):
            unasked.append(f"{host} ({_reason(why.get(host) or 'its Engine does not answer')})")
            continue
        swarm = engine.get("swarm") or {}
        if swarm.get("state") == "locked":
            locked.append(host)
        elif swarm.get("is_manager") and (swarm.get("error") or not swarm.get("cluster_id")):
            leaderless.append(host)
        elif swarm.get("is_manager"):
            key = (swarm["cluster_id"], swarm.get("epoch") or "")
            healthy.setdefault(key, []).append(host)
        elif swarm.get("state") in ("active", "pending", "error"):
            members.append(host)

    def refuse(problem):
        return {"leader": "", "create": False, "problem": problem}

    if locked:
        return refuse(f"{_names(locked)}: locked swarm manager(s); dockyard unlocks them with the unlock key kept in "
                      "its state directory, or unlock them with `docker swarm unlock` and run again")
    if len(healthy) > 1:
        groups = "; ".join(f"{_names(hosts)} in swarm {cluster[:12]}" + (f" (recovered {epoch})" if epoch else "")
                           for (cluster, epoch), hosts in healthy.items())
        return refuse(f"the managers are split between swarms: {groups}. Nothing was changed. Keep the swarm that "
                      f"runs your services: `{recover}` makes the managers of an older recovery leave and re-join "
                      "it; otherwise run `docker swarm leave --force` on the managers of the other swarm and run "
                      "again")
    if healthy:
        hosts = next(iter(healthy.values()))  # one swarm with a quorum
        return {"leader": hosts[0], "create": False, "problem": ""}
    if leaderless:
        lost = f"; {_names(unasked)} cannot be asked" if unasked else ""
        answer = "answers as a manager" if len(leaderless) == 1 else "answer as managers"
        return refuse(f"the swarm has lost its quorum: {_names(leaderless)} {answer} but the swarm has no "
                      f"leader{lost}. Nothing in the swarm was changed. Bring the missing managers back, or run "
                      f"`{recover}` to rebuild the swarm from the surviving manager with its services, secrets and "
                      "configs")
    if unasked:
        return refuse(f"no inventory manager answered as a manager of a swarm, but {_names(unasked)} cannot be asked. "
                      "A new swarm is never created while a manager that may lead one cannot be asked. Bring it "
                      "back and run again, or remove it from swarm_managers if it is gone for good")
    if members:
        return refuse(f"{_names(members)} are in a swarm but not as managers, and no inventory manager manages one. "
                      "Add the swarm's managers to swarm_managers, or make those hosts leave it "
                      "(`docker swarm leave --force`) and run again")
    return {"leader": managers[0], "create": True, "problem": ""} if managers else refuse("swarm_managers is empty")


class FilterModule:
    def filters(self):
        return {"swarm_leader": swarm_leader}
