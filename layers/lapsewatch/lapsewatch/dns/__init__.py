"""The DNS witness: does the zone above a domain still delegate it?

A domain in redemption or pending delete has been taken out of its TLD's zone, and an
unregistered one was never in it. So before a lapse is believed, the zone that holds the
domain's delegation is asked, without recursion, for the domain's NS records: a referral means
the zone still delegates it (the provider's answer is contradicted), NXDOMAIN or NODATA means it
does not. The zone is found by following referrals down from the root (bundled root hints), never
by guessing the TLD, and the system's resolver is never asked: its cache and its own validation
are not evidence.

Where the chain of zones is signed, from the bundled root trust anchor down through each DS, a
denial only counts when its NSEC or NSEC3 records prove it (RFC 4035 section 5.4, RFC 5155
section 8) with every signature validated: that stops an on-path forger, not only a broken
server, from unverifying a healthy domain's addresses. A next-closer name covered by an opt-out
NSEC3 record counts as proven: it is the strongest proof a zone that signs with opt-out (.com,
.net) can give.

dnspython does everything on the wire and all the cryptography; this package only follows the
referrals and checks the proofs. Every name server address, glue included, passes the egress
rules of the status lookups before it is asked.

- `evidence`: what the witness says (`DnsEvidence`) and what a witness is (`DelegationWitness`);
- `walker`: the witness itself, following the referrals from the root and asking each zone;
- `messages`: reading one answer (its records, a referral, whether the zone's server sent it);
- `dnssec`: the keys and signatures that make a zone secure, and the proofs of a denial;
- `roots`: the bundled root hints and trust anchor, the settings that replace them, and the
  witness built from them.
"""
