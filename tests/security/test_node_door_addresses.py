"""Attack tests of the address rules alone (pure): every spelling of this machine or of a special network is
refused for a tenant's node, and only the operator's allowed networks make exceptions (security issue 9, item 1);
every cloud's metadata service is refused, even inside an allowed network, and the operator can name more (F10)."""

from __future__ import annotations

import ipaddress

import pytest

from clusters import netpolicy

OWN = [ipaddress.ip_address(a) for a in ("192.0.2.2", "172.17.0.1", "10.250.60.1", "fd00::2")]


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.1.2.3",
        "::1",
        "::ffff:127.0.0.1",  # IPv4-mapped loopback
        "0.0.0.0",
        "0.1.2.3",
        "::",
        "169.254.169.254",
        "fe80::1",
        "fd00:ec2::254",
        "224.0.0.1",
        "ff02::1",
        "240.0.0.1",
        "255.255.255.255",
        "192.0.2.2",
        "172.17.0.1",
        "10.250.60.1",
        "::ffff:172.17.0.1",
        "fd00::2",
    ],
)
def test_a_tenants_node_is_never_this_machine_or_a_special_address(address: str) -> None:
    assert netpolicy.refusal(ipaddress.ip_address(address), OWN, (), netpolicy.metadata_networks()) is not None


@pytest.mark.parametrize("address", ["10.250.60.2", "192.168.1.20", "203.0.113.7", "2001:db8::7", "100.100.100.201"])
def test_other_hosts_may_be_nodes(address: str) -> None:
    assert netpolicy.refusal(ipaddress.ip_address(address), OWN, (), netpolicy.metadata_networks()) is None


def test_only_the_operators_networks_make_exceptions() -> None:
    allow = (ipaddress.ip_network("127.0.0.0/8"),)
    assert netpolicy.refusal(ipaddress.ip_address("127.0.0.1"), OWN, allow) is None
    assert netpolicy.refusal(ipaddress.ip_address("169.254.169.254"), OWN, allow) is not None


@pytest.mark.parametrize("address", ["100.100.100.200", "::ffff:100.100.100.200", "169.254.169.254", "fd00:ec2::254"])
def test_cloud_metadata_addresses_are_refused_even_in_an_allowed_network(settings: object, address: str) -> None:
    # Alibaba Cloud's metadata service is 100.100.100.200 (shared address space, not link-local).
    settings.BERTH_NODE_NETWORKS_ALLOW = ["100.64.0.0/10", "169.254.0.0/16", "fd00::/8"]
    with pytest.raises(netpolicy.AddressRefused, match="metadata"):
        netpolicy.check(address)
    netpolicy.check("100.100.100.201")  # its neighbour in the allowed network is fine


def test_the_operator_names_more_metadata_addresses(settings: object) -> None:
    settings.BERTH_METADATA_ADDRESSES = ["169.254.169.254", "100.100.100.200", "fd00:ec2::254", "198.51.100.0/28"]
    with pytest.raises(netpolicy.AddressRefused, match="metadata"):
        netpolicy.check("198.51.100.9")
    netpolicy.check("198.51.100.99")


def test_names_are_resolved_and_every_address_checked(settings: object) -> None:
    settings.BERTH_NODE_NETWORKS_ALLOW = []
    for spelling in ("localhost", "2130706433", "0x7f.1", "127.1"):
        with pytest.raises(netpolicy.AddressRefused):
            netpolicy.checked_addresses(spelling, 2375)
