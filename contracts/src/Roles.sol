// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

// Shared by CarbonLedger and the Governor (the adapter's ROLE_BITS mirror the role bits).

// -- roles: bits of an account's `roles` ------------------------------------------
uint32 constant ENROLLED = 1;
uint32 constant REVOKED = 2;
uint32 constant NETWORK_ADMIN = 4;
uint32 constant REC_DEALER = 8;
uint32 constant OFFSET_DEALER = 16;
uint32 constant AUDITOR = 32;
uint32 constant ORG_ADMIN = 64;
uint32 constant MEMBER = 128;
uint32 constant CONSUMER = 256;

// -- token kinds -----------------------------------------------------------------------
uint8 constant REC = 1;
uint8 constant OFFSET = 2;
uint8 constant AUDITED = 3;
