"""The swarm role's decisions: which manager leads a run (never a second swarm), which nodes leave, and which
manager a lost swarm is recovered from."""

import pytest
from ansible_collections.dockyard.fleet.plugins.filter.swarm_leader import swarm_leader
from ansible_collections.dockyard.fleet.plugins.filter.swarm_nodes_settled import swarm_nodes_settled
from ansible_collections.dockyard.fleet.plugins.filter.swarm_recovery import swarm_recovery
from ansible_collections.dockyard.fleet.plugins.modules.swarm_nodes import Refused, plan

MANAGERS = ["node1", "node2", "node3"]


def engine(state="active", manager=True, cluster="c1", error="", epoch="", running=True):
    swarm = {"state": state, "is_manager": manager, "cluster_id": cluster if manager else "", "error": error,
             "epoch": epoch}
    return {"running": running, "swarm": swarm}


def test_a_manager_that_left_joins_the_swarm_its_peers_lead_instead_of_creating_one():
    plan_ = swarm_leader(MANAGERS, {"node1": engine("inactive", False), "node2": engine(), "node3": engine()})
    assert plan_ == {"leader": "node2", "create": False, "problem": ""}


def test_a_swarm_is_created_only_when_every_manager_was_asked_and_none_is_in_one():
    bare = engine("inactive", False)
    assert swarm_leader(MANAGERS, dict.fromkeys(MANAGERS, bare))["create"] is True
    plan_ = swarm_leader(MANAGERS, {"node1": bare, "node2": bare},
                         {"node3": "Task failed: ssh: connect to host 10.0.0.3 port 22: No route to host"})
    assert plan_["create"] is False and plan_["leader"] == ""
    assert "node3 (No route to host) cannot be asked" in plan_["problem"]
    stopped = engine("inactive", False, running=False)
    assert "node3 (its Engine does not answer)" in swarm_leader(MANAGERS, {"node1": bare, "node2": bare,
                                                                           "node3": stopped})["problem"]
    # Check mode before the Engine is installed: a stopped Engine is one that will start outside any swarm.
    assert swarm_leader(MANAGERS, dict.fromkeys(MANAGERS, stopped), predicting=True)["create"] is True


def test_a_dead_manager_does_not_stop_a_healthy_swarm():
    assert swarm_leader(MANAGERS, {"node1": engine(), "node3": engine()}, {"node2": "timed out"})["leader"] == "node1"


def test_lost_quorum_names_the_recover_command():
    plan_ = swarm_leader(MANAGERS, {"node1": engine(cluster="", error="context deadline exceeded")},
                         {"node2": "No route to host", "node3": "No route to host"}, inventory="inv/hosts.yml")
    assert plan_["leader"] == "" and "lost its quorum" in plan_["problem"]
    assert "`dockyard swarm recover -i inv/hosts.yml`" in plan_["problem"]


def test_two_swarms_among_the_managers_are_refused():
    plan_ = swarm_leader(MANAGERS, {"node1": engine(cluster="aaaa"), "node2": engine(cluster="bbbb"),
                                    "node3": engine(cluster="bbbb")})
    assert plan_["leader"] == "" and "node1 in swarm aaaa; node2, node3 in swarm bbbb" in plan_["problem"]
    stale = swarm_leader(MANAGERS, {"node1": engine(epoch="2026-11-25T10:00:00Z"), "node2": engine(),
                                    "node3": engine()})
    assert "recovered 2026-11-25T10:00:00Z" in stale["problem"]


def test_locked_managers_are_refused():
    assert "locked" in swarm_leader(MANAGERS, {"node1": engine("locked", False), "node2": engine(),
                                               "node3": engine()})["problem"]


def test_a_rejoined_hosts_old_node_is_removed_without_touching_quorum_checks():
    current = [node("old1", "manager", state="down", labels={"dockyard.host": "node1"}),
               node("new1", "manager", labels={}), node("node2", "manager"), node("node3", "manager")]
    updates, removals = plan(current, [declared("new1", "manager", name="node1")], prune=False,
                             inventory_hosts=MANAGERS)
    assert [(n["ID"], why) for n, _name, why in removals] == [("old1", "replaced by its new node")]
    assert [words for *_, words in updates] == ["label node1 dockyard.host=node1", "drain node1"]


def test_a_dead_node_outside_the_raft_is_removed_as_it_is():
    current = [node("node1", "manager"), node("gone", "worker", state="down")]
    updates, removals = plan(current, [declared("node1", "manager")], prune=False, inventory_hosts=["node1"])
    assert updates == [] and [name for _n, name, _why in removals] == ["gone"]


def test_nodes_of_hosts_still_in_the_inventory_are_kept_under_limit():
    current = [node("node1", "manager"), node("node2", "worker"), node("manual", "worker", labels={})]
    updates, removals = plan(current, [declared("node1", "manager")], prune=False,
                             inventory_hosts=["node1", "node2"])
    assert updates == [] and removals == []


def test_labels_and_availability_change_while_a_manager_is_down_but_roles_do_not():
    current = [node("node1", "manager"), node("node2", "manager", state="down"), node("node3", "manager"),
               node("node4", "worker"), node("node5", "worker")]
    updates, _ = plan(current, [declared("node4", "worker", labels={"zone": "a"})], prune=False)
    assert [words for *_, words in updates] == ["label node4 dockyard.host=node4 zone=a"]
    with pytest.raises(Refused, match="node2 not Ready"):
        plan(current, [declared("node4", "manager"), declared("node5", "manager")], prune=False)


def test_recovery_rebuilds_from_the_newest_raft_state_and_makes_the_rest_leave():
    states = [{"is_manager": True, "has_leader": False, "raft_index": 40, "raft_modified": 9.0},
              {"is_manager": True, "has_leader": False, "raft_index": 52, "raft_modified": 5.0},
              {"is_manager": False}]
    assert swarm_recovery(states, ["node1", "node2", "node3"]) == {"source": "node2", "rebuild": True,
                                                                  "stale": ["node1"]}


def test_recovery_keeps_a_swarm_that_has_a_leader_and_names_an_older_partition_stale():
    states = [{"is_manager": True, "has_leader": True, "epoch": "2026-11-25T10:00:00Z"},
              {"is_manager": True, "has_leader": True, "epoch": ""},
              {"is_manager": True, "has_leader": True, "epoch": ""}]
    assert swarm_recovery(states, MANAGERS) == {"source": "node1", "rebuild": False, "stale": ["node2", "node3"]}
    assert swarm_recovery([{"is_manager": True, "has_leader": True}] * 3, MANAGERS)["stale"] == []
    assert swarm_recovery([{"is_manager": False}], ["node1"])["source"] == ""


def service(sid, name, replicas=None):
    mode = {"Replicated": {"Replicas": replicas}} if replicas is not None else {"Global": {}}
    return {"ID": sid, "Spec": {"Name": name, "Mode": mode}}


def task(sid, node, state="running"):
    return {"ServiceID": sid, "NodeID": node, "Status": {"State": state}}


def test_a_drained_node_is_done_when_its_replicas_run_elsewhere():
    from ansible_collections.dockyard.fleet.plugins.modules.swarm_drain import global_on, shortfall

    services = [service("a", "web_api", 2), service("w", "web_web")]
    before = [task("a", "n1"), task("a", "n2"), task("w", "n1"), task("w", "n2")]
    assert global_on(services, before, "n1") == ["web_web"]
    # Drained n1: its api task is replaced on n3, but not running yet.
    moving = [task("a", "n2"), task("a", "n3", "starting"), task("w", "n2")]
    assert shortfall(services, moving, "n1", drained=True, on_node=[]) == ["web_api 1/2"]
    assert shortfall(services, [task("a", "n2"), task("a", "n1")], "n1", drained=True, on_node=[]) == [
        "web_api 1/2", "web_api still on the node"]
    assert shortfall(services, [task("a", "n2"), task("a", "n3"), task("w", "n2")], "n1", True, []) == []
    # Back: the node's global task must run on it again.
    back = [task("a", "n2"), task("a", "n3"), task("w", "n2")]
    assert shortfall(services, back, "n1", drained=False, on_node=["web_web"]) == ["web_web on the node"]
    assert shortfall(services, [*back, task("w", "n1")], "n1", drained=False, on_node=["web_web"]) == []


def test_a_stopped_run_says_which_task_and_hosts_it_stopped_in():
    from dockyard.runner import _Where

    where = _Where()
    assert where.describe() == "before the first task"
    for event in ({"event": "play_start", "hosts": ["node1", "node2", "node3"]},
                  {"event": "task_start", "task": "Install Docker Engine packages", "role": "engine"},
                  {"event": "changed", "host": "node2"},
                  {"event": "unreachable", "host": "node3"}):
        where.follow(event)
    assert where.describe() == "during 'engine : Install Docker Engine packages' on node1"


def node(node_id, role, state="ready", labels=None, availability="active"):
    """A node as GET /nodes shows it; dockyard labels the nodes it joins with their host unless labels says."""
    return {"ID": node_id, "Version": {"Index": 1}, "Description": {"Hostname": node_id},
            "Spec": {"Role": role, "Availability": availability,
                     "Labels": {"dockyard.host": node_id} if labels is None else labels},
            "Status": {"State": state},
            **({"ManagerStatus": {"Reachability": "reachable"}} if role == "manager" else {})}


def declared(node_id, role, **extra):
    return {"node_id": node_id, "name": node_id, "role": role, "labels": {}, "availability": "active", **extra}


def test_promotions_come_before_demotions():
    current = [node("a", "manager"), node("b", "worker"), node("c", "worker")]
    updates, removals = plan(current, [declared("a", "manager"), declared("b", "manager"),
                                       declared("c", "manager")], prune=False)
    assert [words for *_, words in updates] == ["promote b", "promote c"] and removals == []
    updates, _ = plan([node("a", "manager"), node("b", "manager"), node("c", "manager")],
                      [declared("a", "manager"), declared("b", "worker", labels={"zone": "b"}),
                       declared("c", "worker")], prune=False)
    assert [words for *_, words in updates] == ["demote b; label b dockyard.host=b zone=b", "demote c"]


def test_an_even_or_unready_manager_set_is_refused():
    with pytest.raises(Refused, match="would have 2 managers"):
        plan([node("a", "manager"), node("b", "worker")], [declared("a", "manager"), declared("b", "manager")],
             prune=False)
    with pytest.raises(Refused, match="manager\\(s\\) c not Ready"):
        plan([node("a", "manager"), node("b", "worker"), node("c", "worker", state="down")],
             [declared("a", "manager"), declared("b", "manager"), declared("c", "manager")], prune=False)


def test_prune_drains_and_removes_undeclared_nodes():
    updates, removals = plan([node("a", "manager"), node("gone", "worker", labels={})],
                             [declared("a", "manager")], prune=True)
    assert [words for *_, words in updates] == ["drain gone"] and [name for _, name, _ in removals] == ["gone"]


def test_nodes_as_declared_and_all_ready_need_no_call_and_anything_else_does():
    current = [node("m1", "manager"), node("w1", "worker"), node("w2", "worker")]
    wanted = [declared("m1", "manager"), declared("w1", "worker"), declared("w2", "worker")]
    assert swarm_nodes_settled(wanted, current)
    assert not swarm_nodes_settled(wanted, None)  # no read (the leader outside the run): the module is asked
    assert not swarm_nodes_settled([*wanted[:2], declared("w2", "worker", labels={"zone": "b"})], current)
    assert not swarm_nodes_settled([*wanted[:2], declared("w2", "manager")], current)  # refused: two managers
    assert not swarm_nodes_settled(wanted, [*current[:2], node("w2", "worker", state="down")])
    assert not swarm_nodes_settled(wanted[:2], current, prune=True)  # w2 is not declared: pruned
    assert swarm_nodes_settled(wanted[:2], current)  # without prune (a --limit run) it stays
