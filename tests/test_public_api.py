"""The public names of each module, pinned: changing one must be a deliberate edit here.

Also: the errors the CLI paths raise are CarbonLedgerError subclasses, never bare built-ins.
"""

from __future__ import annotations

import importlib
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

import carbonledger
from carbonledger import errors
from carbonledger.errors import CarbonLedgerError

PUBLIC: dict[str, list[str]] = {
    "carbonledger.adapters.sqlstore": ["SqlChannelStore", "SqlLedger", "make_engine", "upgrade"],
    "carbonledger.adapters.sqlstore.channels": ["SqlChannelStore", "insert_ignore"],
    "carbonledger.adapters.sqlstore.ledger": ["SqlLedger", "make_engine"],
    "carbonledger.adapters.sqlstore.migrate": ["MIGRATIONS", "upgrade"],
    "carbonledger.adapters.sqlstore.schema": [
        "METADATA", "blob", "channel_key", "checkpoint", "leaf", "meta", "node", "tx",
    ],
    "carbonledger": ["CarbonLedgerError", "__version__"],
    "carbonledger.adapters.evm": ["EvmLedger", "Rpc", "RpcError", "deploy"],
    "carbonledger.adapters.evm.anvil": ["Anvil", "LocalNode", "find_anvil"],
    "carbonledger.adapters.evm.hardhat": ["Hardhat", "find_hardhat"],
    "carbonledger.adapters.evm.chain": [
        "DEFAULT_TIME_SKEW_MS",
        "artifact",
        "deploy",
        "fund_dev_account",
        "rlp_bytes",
        "rlp_int",
        "rlp_list",
    ],
    "carbonledger.adapters.evm.ledger": [
        "DEFAULT_TIME_SKEW_MS",
        "ROLE_BITS",
        "EvmLedger",
        "artifact",
        "deploy",
    ],
    "carbonledger.adapters.evm.rpc": ["NodeUnreachable", "Rpc", "RpcError"],
    "carbonledger.adapters.evm.attach": ["attach", "first_block_with_code"],
    "carbonledger.adapters.evm.base": ["CONTRACTS", "TX_ABI", "EvmBase"],
    "carbonledger.adapters.evm.calls": ["ROLE_BITS", "Calls", "Prepared", "calldata_floor"],
    "carbonledger.adapters.evm.follow": ["Followed", "Follower"],
    "carbonledger.adapters.evm.ahead": ["AnnouncedAhead"],
    "carbonledger.adapters.evm.calldata": ["KEPT_BYTES", "Calls"],
    "carbonledger.adapters.evm.exchange": [
        "BLOBS_PATH", "BlobSource", "BlobsUnavailable", "PeerExchange", "StoreBlobs",
        "announced_peers", "check_peer_url",
        "fill_blobs", "keep_blobs",
    ],
    "carbonledger.adapters.evm.peer_policy": [
        "ALLOW_PRIVATE_PEERS", "PeerPolicy", "Route", "address_refusal", "url_refusal",
    ],
    "carbonledger.adapters.evm.recovery": ["entries_kept", "store_beside"],
    "carbonledger.adapters.evm.settle": ["Settler"],
    "carbonledger.adapters.evm.carried": [
        "Carried", "WrappedKey", "decode_carried", "encode_carried", "new_keys",
    ],
    "carbonledger.adapters.evm.entries": [
        "ENTRY_TOPIC", "EntryLog", "common_prefix", "store_count", "store_receipts",
        "writer_lock",
    ],
    "carbonledger.adapters.sqlite": ["SqliteChannelStore", "SqliteLedger"],
    "carbonledger.adapters.group_commit": ["GroupCommitLedger"],
    "carbonledger.adapters.sqlite.channels": ["CHANNEL_SCHEMA", "SqliteChannelStore"],
    "carbonledger.adapters.sqlite.ledger": ["SqliteLedger", "checkpoint_digest"],
    "carbonledger.adapters.sqlite.schema": [
        "NODE_MIN_LEVEL", "SCHEMA", "SCHEMA_VERSION", "VOID_COLUMNS", "connect",
        "derived_columns",
    ],
    "carbonledger.adapters.sqlite.verify": ["verify_connection"],
    "carbonledger.adapters.state_tail": [
        "SNAPSHOT_BYTES_PER_LEAF", "SNAPSHOT_MAX_TAIL", "Rows", "load_snapshot", "replay_tail",
        "snapshot_due", "snapshot_entry", "snapshot_leaves", "snapshot_problem",
    ],
    "carbonledger.adapters.tlog_store": [
        "Remembered", "batch_notes", "ledger_consistency", "prune_blobs", "read_meta_text",
        "read_remembered", "remember_checkpoint", "remembered_problem", "replace_rows",
        "unreferenced_blobs", "void_key", "void_seq",
    ],
    "carbonledger.adapters.sqlite.verify_checks": [
        "BlobCheck", "Findings", "NodeStreams", "Stop", "check_checkpoint", "check_notes",
        "check_remembered", "stored_snapshot",
    ],
    "carbonledger.api": ["create_app"],
    "carbonledger.api.app": ["create_app"],
    "carbonledger.api.coalesce": ["BillCoalescer"],
    "carbonledger.api.auth": ["TOKEN_SECONDS", "Actor", "actor_of"],
    "carbonledger.api.context": [
        "AppContext", "ServiceAccount", "api_tokens_file", "new_api_token", "store_api_token",
    ],
    "carbonledger.api.deps": ["actor", "context"],
    "carbonledger.api.fast": ["BILLS_PATH", "RECORDS_PATH", "RECORD_EMISSIONS_PATH", "FastWrites"],
    "carbonledger.api.listing": ["MAX_LIMIT", "RecordsQuery", "records_page"],
    "carbonledger.api.opentaps": ["RecordForm", "record_one", "repeated_fields", "router"],
    "carbonledger.api.openapi": ["DOCS_ASSETS", "install_docs", "openapi_document"],
    "carbonledger.api.problems": [
        "API_PREFIX", "OPENTAPS_PREFIX", "STATUS", "allowed_methods", "api_routes",
        "declared_query", "install_handlers", "json_response", "problem", "problem_for",
    ],
    "carbonledger.api.readers": [
        "EncodedViews",
        "OpenedBlobs", "SharedChannelKeys", "SharedDetailReader", "UnwrappedKeys",
    ],
    "carbonledger.api.routes_core": ["router"],
    "carbonledger.api.routes_log": ["router"],
    "carbonledger.api.routes_blobs": ["router"],
    "carbonledger.api.routes_records": ["BILLS_BODY", "record_bill_list", "router"],
    "carbonledger.api.witness": ["create_witness_app"],
    "carbonledger.cli": ["app", "main"],
    "carbonledger.cli.audit": ["register"],
    "carbonledger.cli.bills": ["print_import_report", "register"],
    "carbonledger.cli.calc": ["calc"],
    "carbonledger.cli.chain": ["chain_app", "open_evm_ledger", "register"],
    "carbonledger.cli.chain_peers": ["announce_cmd", "peers_cmd"],
    "carbonledger.cli.chain_follow": [
        "DEFAULT_INTERVAL_S", "background_follower", "follow_cmd", "home_confirmations",
    ],
    "carbonledger.cli.channels": ["register"],
    "carbonledger.cli.common": [
        "DEBUG_ENV", "DEMO_PASSPHRASE", "AsOption", "HomeOption", "ask_secret", "console",
        "describe_failure", "err", "home_of", "is_demo", "open_ledger", "passphrase",
        "print_json", "read_ledger", "reader_key", "unlock", "unlock_hint",
    ],
    "carbonledger.cli.credentials": ["audit_auto", "register"],
    "carbonledger.cli.dao": ["register"],
    "carbonledger.cli.didkeys": [
        "KeyOption", "did_arg", "did_file", "did_signer", "post_credentials", "read_credentials",
        "read_json",
    ],
    "carbonledger.cli.demo": ["register"],
    "carbonledger.cli.ids": ["known_org", "known_site", "proposal_id", "token_id"],
    "carbonledger.cli.tables": ["Rows", "count", "print_table"],
    "carbonledger.cli.factors": [
        "app", "catalog_for", "collect_data_warnings", "fail", "print_json",
    ],
    "carbonledger.cli.greenbutton": ["app"],
    "carbonledger.cli.ledger": ["register"],
    "carbonledger.cli.meters": ["meter_app", "utility_app"],
    "carbonledger.cli.org": ["register"],
    "carbonledger.cli.serve": ["register", "run_server"],
    "carbonledger.cli.tokens": ["register"],
    "carbonledger.cli.users": ["register"],
    "carbonledger.cli.witness": ["witness_app"],
    "carbonledger.core.checkpoint": [
        "checkpoint_body", "checkpoint_digest", "log_key", "log_origin", "sign_checkpoint",
        "signed_checkpoint_note",
    ],
    "carbonledger.core.proofnote": ["check_notes"],
    "carbonledger.core.witness": [
        "MAX_PROOF_LINES", "SIZE_CONTENT_TYPE", "Answer", "Request", "add_checkpoint", "request",
    ],
    "carbonledger.core.note": [
        "COSIGNATURE_TYPE", "ED25519_TYPE", "CheckpointText", "Cosignature", "Note", "NoteKey",
        "Verifier", "checkpoint_text", "cosign", "parse_checkpoint", "parse_note",
        "signature_line", "verify_cosignature", "verify_note",
    ],
    "carbonledger.core.calculator": [
        "CONTEXT_DIGITS", "DEFAULT_GWP", "GWP_SETS", "QUANTUM", "TRACE_SCHEMA",
        "CalculationPlan", "CalculationResult", "basis_id", "calculate", "co2e_from_gases",
        "gwp_weights", "merge_trace", "plan_for", "recompute", "result_texts", "results",
    ],
    "carbonledger.core.periods": ["PeriodShare", "split_amount", "split_period"],
    "carbonledger.core.travel": [
        "CABINS", "DEFRA_UPLIFT", "EARTH_RADIUS_KM", "Airport", "Flight", "great_circle_km",
        "plan_flight", "scope_of", "with_basis",
    ],
    "carbonledger.core.canonical": ["canonical", "jcs", "loads", "loads_canonical"],
    "carbonledger.core.blobs": [
        "BLOB_BATCH_MAX", "BLOB_FIELDS", "BlobRef", "check_carried", "is_blob_id",
        "referenced_blobs",
    ],
    "carbonledger.core.commitments": ["detail_commitment"],
    "carbonledger.core.dao.actions": [
        "ACTION_TYPES", "MAX_ACTIONS", "MAX_PARTS", "check_actions", "check_project", "perform",
    ],
    "carbonledger.core.dao.balances": [
        "burn_locked", "credit", "distribution", "lock", "pay", "supply", "unlock",
    ],
    "carbonledger.core.dao.model": [
        "ACTIVE", "CANCELED", "DAO_ISSUER", "DAY_MS", "DEFAULT_PARAMS", "DEFEATED",
        "DURATION_PARAMS", "EXECUTED", "EXPIRED", "MAX_DURATION_MS", "PARAMS", "PENDING", "QUEUED",
        "QUORUM_FAILED", "SNAPSHOT_PARAMS", "STATES", "SUCCEEDED", "TREASURY", "ballot_key",
        "check_param", "dao_params", "get_proposal", "holder", "holder_key", "iso_from_ms",
        "ledger_ms", "limited_mode", "proposal_key", "proposal_status", "require_dao_issuance",
        "require_setup",
    ],
    "carbonledger.core.dao.quadratic": [
        "VOTE_DECIMALS", "VOTE_SCALE", "format_votes", "parse_votes", "votes_decimal", "votes_for",
    ],
    "carbonledger.core.domain": [
        "CAP_UNITS", "MAX_AMOUNT", "RECORD_NAMESPACE", "Bill", "Organisation", "PeriodIndex",
        "Site", "account_ref", "check_quantity", "overlap_error", "parse_amount", "parse_date",
        "record_id", "record_id_bytes",
    ],
    "carbonledger.core.apportion": ["largest_remainder"],
    "carbonledger.core.ids": [
        "ID_PATTERN", "SHORT_ID", "ambiguous", "require_known", "resolve_id",
    ],
    "carbonledger.core.factor_values": [
        "FACTOR_FIELDS", "Edition", "EmissionFactor", "Location", "Resolution",
    ],
    "carbonledger.core.merkle": [
        "EMPTY_ROOT", "HASH_SIZE", "MerkleAccumulator", "NodeLookup", "consistency_proof",
        "inclusion_proof", "leaf_hash", "leaf_hashes", "node_hash", "root_from_inclusion_proof",
        "root_from_leaf_hashes", "subtree_hash", "verify_consistency", "verify_inclusion",
    ],
    "carbonledger.core.proofdoc": ["PROOF_FORMAT", "check_proof", "proof_document"],
    "carbonledger.core.rules": [],
    "carbonledger.core.rules.channels": [
        "channel_access", "channel_grant", "channel_read", "channel_revoke", "channel_rotate",
        "current_members", "is_channel_admin", "may_rotate", "read_access", "rotated_channel",
        "run_by_its_own", "sealing_epoch", "stale_holders", "valid_members",
    ],
    "carbonledger.core.rules.common": [
        "GRANTABLE_ROLES", "ROLES", "Rule", "check_id", "check_sealed", "expect_kind",
        "is_org_admin", "parse_time",
        "require_active_signer", "require_network_admin", "require_org_admin", "require_org_writer",
    ],
    "carbonledger.core.rules.devices": ["RULES"],
    "carbonledger.core.dao.rules": ["RULES"],
    "carbonledger.core.rules.identity": [
        "enroll", "has_own_admin", "register_identity", "revoke_identity", "secret_hash",
    ],
    "carbonledger.core.rules.disclosures": [
        "DISCLOSURE_FIELDS", "SCOPES", "SCOPE_PATTERN", "disclose", "records_commitment",
    ],
    "carbonledger.core.rules.records": [
        "RECORD_FIELDS", "audit_report", "compact_shape", "period_taken", "record_emissions",
    ],
    "carbonledger.core.rules.registry": [
        "check_org_ca", "genesis", "public_key_for", "register_org", "register_site",
    ],
    "carbonledger.core.rules.tokens": ["RULES", "audited_only"],
    "carbonledger.core.rules.nodes": [
        "NODE_URL_MAX", "announce_node", "announced_nodes", "check_node_url",
    ],
    "carbonledger.core.tokens.directory": [
        "DIRECTORY_PREFIX", "HEX64", "PROJECT_FIELDS", "offset_project", "project_leaf",
    ],
    "carbonledger.core.tokens.holdings": [
        "balance", "check_serial_free", "credit", "get_token", "next_serials", "token_exists",
        "token_ids",
    ],
    "carbonledger.core.tokens.issuance": [
        "DEALER_ROLE", "SCOPES", "check_period", "issue", "issue_by_dao", "require_role",
    ],
    "carbonledger.core.intervals": [
        "MAX_QUANTITY", "add_period", "check_period", "check_quantity", "is_iso_date",
        "overlapping",
    ],
    "carbonledger.core.state": ["ID_PATTERN", "LedgerState"],
    "carbonledger.core.authority": ["CHAIN_KEEPS_NONCE_ONLY", "RULES", "apply", "apply_followed"],
    "carbonledger.core.builders": [
        "OMIT", "audited_token", "dao_act", "dao_issue", "dao_setup", "dao_transfer",
        "decode_item", "offset_token", "period", "proposal", "rec_token", "serial", "token_mint",
        "token_retirement", "token_transfer", "vote",
    ],
    "carbonledger.core.items": [
        "ITEM_TYPES", "AuditReportItem", "AuditResultItem", "CalculationBasisItem",
        "ChannelGrantItem", "ChannelReadItem", "ChannelRevokeItem", "ChannelRotateItem",
        "CredentialItem", "DaoIssueItem", "DaoProposalActItem", "DaoSetupItem", "DaoTransferItem",
        "DeviceItem", "DeviceStatusItem", "DisclosureItem", "EmissionsRecordItem", "IdentityItem",
        "LedgerItem", "OffsetDirectoryItem", "OrganisationItem", "ProposalItem",
        "RegistrationItem", "RevocationItem", "SiteItem", "StatusListItem", "TokenItem",
        "TokenMintItem", "TokenRetirementItem", "TokenTransferItem", "UtilityItem", "VoteItem",
    ],
    "carbonledger.core.item_parts": [
        "ChannelKeys", "DirectoryProject", "Manifest", "ManifestEntry", "Period", "ProjectProof",
        "ProjectRef", "ProposalPart", "RecordDetail", "RecordTrace", "Sealed", "Serial", "TxBody",
        "WrappedKeys",
    ],
    "carbonledger.core.identities": ["ACTIVE", "REVOKED", "is_active", "require_active"],
    "carbonledger.core.tokens": [
        "AUDITED", "BASE_UNITS", "MAX_AMOUNT", "OFFSET", "REC", "TOKEN_TYPES", "SerialRange",
    ],
    "carbonledger.core.tokens.marginal": [
        "Displacement", "MoerSeries", "displacement", "interval_rates", "parse_moer_csv",
        "profile_arrays", "series_from_arrays",
    ],
    "carbonledger.core.tokens.model": [
        "AUDITED", "BASE_UNITS", "EGRID_SUBREGIONS", "MAX_AMOUNT", "OFFSET", "REC", "TOKEN_TYPES",
        "SerialRange", "balance_key", "check_amount", "check_date", "check_grid_region",
        "check_text", "is_token_id", "org_holder", "to_decimal",
    ],
    "carbonledger.core.tokens.net": [
        "AuditedInput", "NetEmissions", "OffsetInput", "net_emissions",
    ],
    "carbonledger.core.tokens.offsets": ["OffsetDirectory", "OffsetProject", "parse_directory"],
    "carbonledger.core.tokens.scope2": [
        "Certificate", "Consumption", "ResidualMix", "Scope2Result", "Scope2Row", "VintageRule",
        "aggregate", "allocate", "market_country",
    ],
    "carbonledger.core.tx": [
        "GENESIS_PREV", "TX_VERSION", "SignedTx", "build_tx", "build_tx_from_encoded", "check_tx",
        "entry_hash", "signing_digest", "tx_from_parts", "utc_now",
    ],
    "carbonledger.core.units": [
        "CONVERSION_DIGITS", "DIMENSIONS", "UNITS", "convert", "dimension", "factor_between",
        "normalise_unit", "split_rate_unit",
    ],
    "carbonledger.credentials": [
        "CONTEXT_FILES", "VC_V1_CONTEXT", "VC_V2_CONTEXT", "BitstringStatusList", "DidDocument",
        "Ed25519Signer", "ProofError", "RecordVerdict", "Secp256k1Signer", "Signer",
        "StatusListChecker", "VerificationResult", "audit_result_credential", "canonicalize",
        "did_from_public_key", "generate_ed25519", "issue", "issue_status_list", "load_context",
        "meter_readings_credential", "resolve", "status_entry", "utility_bill_credential",
        "validate", "verify", "verify_many",
    ],
    "carbonledger.credentials.aries": ["WRAPPERS", "fetch_agent_credentials", "unwrap"],
    "carbonledger.credentials.bundled": [
        "CARBONLEDGER_CONTEXT", "CONTEXT_FILES", "inline_context", "load_context",
    ],
    "carbonledger.credentials.did": [
        "DID_CONTEXT", "MULTIKEY_CONTEXT", "DidDocument", "Ed25519Signer", "KeyType",
        "Secp256k1Signer", "Signer", "VerificationKey", "base58btc_decode", "base58btc_encode",
        "did_from_public_key", "generate_ed25519", "key_from_multibase", "resolve",
    ],
    "carbonledger.credentials.jsonld": [
        "DROPPED_VOCAB", "ContextUnavailable", "canonize", "document_loader",
    ],
    "carbonledger.credentials.ldp": [
        "ED25519_2020_CONTEXT", "LD_SUITES", "ld_sign", "ld_signature", "ld_verify_data",
        "with_suite_context",
    ],
    "carbonledger.credentials.proof": [
        "ACAPY_JCS_VARIANT", "CRYPTOSUITES", "PROOF_TYPE", "ProofError", "SUITES", "add_proof",
        "canonicalize", "create_proof", "format_datetime", "hash_data", "parse_datetime",
        "verify_proof", "verify_proofs",
    ],
    "carbonledger.credentials.status": [
        "MIN_ENTRIES", "STATUS_PURPOSES", "BitstringStatusList", "StatusListChecker",
        "issue_status_list", "status_entry", "status_list_credential",
    ],
    "carbonledger.credentials.types": [
        "AUDIT_RESULT", "CARBONLEDGER_CONTEXT", "METER_READINGS", "UTILITY_BILL", "VERDICTS",
        "VOCAB", "RecordVerdict", "audit_result_credential", "check_context",
        "meter_readings_credential", "reading_pair",
        "utility_bill_credential", "validate", "validate_audit_result", "validate_meter_readings",
        "validate_utility_bill",
    ],
    "carbonledger.credentials.vc": [
        "VC_V1_CONTEXT", "VC_V2_CONTEXT", "StatusChecker", "TrustPolicy", "VerificationResult",
        "default_suite", "issue", "issuer_id", "verify", "verify_many",
    ],
    "carbonledger.crypto": [
        "PrivateKey", "PublicKey", "checksum_address", "decrypt_key", "eip191_digest",
        "encrypt_key", "is_address", "keccak256", "load_keystore", "recover_address",
        "save_keystore", "verify_digest",
    ],
    "carbonledger.crypto.ecies": [
        "MAX_SECRET_BYTES", "MIN_SECRET_BYTES", "VERSION", "unwrap", "wrap",
    ],
    "carbonledger.crypto.keys": [
        "SECP256K1_N", "PrivateKey", "PublicKey", "checksum_address", "eip191_digest", "is_address",
        "keccak256", "recover_address", "verify_digest",
    ],
    "carbonledger.crypto.recipes": [
        "recover_personal_message", "sign_evm_transaction", "sign_personal_message",
        "sign_sha256_compact",
    ],
    "carbonledger.crypto.keystore": [
        "decrypt_key", "encrypt_key", "load_keystore", "save_keystore",
    ],
    "carbonledger.crypto.sealed": [
        "KEY_BYTES", "SALT_BYTES", "VERSION", "commitment", "new_channel_key", "new_salt",
        "open_sealed", "seal",
    ],
    "carbonledger.crypto.x509ca": [
        "ADDRESS_URI_PREFIX", "ROLE_URI_PREFIX", "CaBundle", "CertInfo", "certificate_info",
        "certify_org_ca", "create_intermediate_ca", "create_root_ca", "encrypt_ca_key",
        "fingerprint", "issue_certificate", "make_csr", "make_org_ca_request",
    ],
    "carbonledger.crypto.x509chain": ["verify_chain"],
    "carbonledger.crypto.x509crl": ["create_crl", "is_revoked"],
    "carbonledger.errors": [
        "CarbonLedgerError", "ConfigurationError", "Conflict", "DuplicateEntity", "FactorNotFound",
        "IntegrityError", "InvalidInput", "NotFound", "OverlappingPeriod", "PermissionDenied",
        "RowError", "SignatureInvalid", "UnknownUnit",
    ],
    "carbonledger.factors": [
        "FORMATS", "DataWarning", "Edition", "EditionInfo", "EmissionFactor", "FactorCatalog",
        "LoadedFile", "Location", "Resolution", "normalise_activity", "normalise_country",
        "pick_year",
    ],
    "carbonledger.factors.base": [
        "DataWarning", "check_consistency", "make_edition", "parse_decimal", "read_factor_csv",
        "write_factor_csv",
    ],
    "carbonledger.factors.catalog": ["EditionInfo", "FactorCatalog"],
    "carbonledger.factors.countries": [
        "EU_MEMBERS", "country_name", "iso3_to_iso2", "normalise_country",
    ],
    "carbonledger.factors.defra": ["FUELS", "extract_defra_xlsx", "is_defra_xlsx"],
    "carbonledger.factors.eea": ["EEA_COLUMNS", "load_eea_csv"],
    "carbonledger.factors.egrid": [
        "SUBREGION_COLUMNS", "ZIP_COLUMNS", "ZipRow", "edition_from_name", "load_state_json",
        "load_subregion_csv", "load_zip_csv",
    ],
    "carbonledger.factors.ember": ["load_ember_json"],
    "carbonledger.factors.formats": ["FORMATS", "LoadedFile", "read_file"],
    "carbonledger.factors.resolver": [
        "ACTIVITY_ALIASES", "by_country", "make_result", "normalise_activity", "pairs_for",
        "pick_edition", "pick_year", "resolve",
    ],
    "carbonledger.factors.airports": ["airport"],
    "carbonledger.factors.epa_hub": ["HUB_SHEET", "STATIONARY", "extract_epa_hub"],
    "carbonledger.factors.fuels": ["resolve_fuel"],
    "carbonledger.factors.sheets": [
        "OLE2_MAGIC", "XLSX_MAGIC", "cell_decimal", "cell_text", "read_sheet", "sheet_names",
    ],
    "carbonledger.factors.us_grid": ["US_STATES", "resolve_us"],
    "carbonledger.services.travel": ["FlightResult", "flight"],
    "carbonledger.services.marginal": [
        "AVERT_FILE", "avert_series", "marginal_report", "non_baseload", "site_subregion",
    ],
    "carbonledger.services.record_values": ["record_kg"],
    "carbonledger.core.tokens.marginal_sources": [
        "AVERT_REGION", "AVERT_UTC_OFFSET", "G_PER_KWH_PER_LB_PER_KWH", "G_PER_KWH_PER_LB_PER_MWH",
        "Coverage", "cascade_rates", "parse_avert_csv",
    ],
    "carbonledger.cli.reports": [],
    "carbonledger.core.inventory": [
        "CATEGORIES", "Figure", "Inventory", "InventoryLine", "build_inventory",
    ],
    "carbonledger.services.inventory": [
        "inventory_chart", "inventory_csv", "inventory_html", "inventory_report",
    ],
    "carbonledger.cli.travel": ["register", "travel_app"],
    "carbonledger.services.travel_import": [
        "TRAVEL_COLUMNS", "TravelImportSession", "Trip", "iter_trips",
    ],
    "carbonledger.greenbutton": [
        "DEFAULT_MAX_BYTES", "BillsFromGreenButton", "GreenButtonDocument", "Interval",
        "IntervalBlock", "IntervalReading", "LocalTimeParameters", "MeterReading", "MeterSummary",
        "ReadingType", "Summary", "SummaryMeasurement", "UsagePoint", "UsagePointSummary",
        "UsageSummary", "natural_unit", "parse_bytes", "parse_file", "summarise", "to_bills",
        "to_intervals",
    ],
    "carbonledger.greenbutton.bills": ["to_bills"],
    "carbonledger.greenbutton.convert": ["natural_unit", "summarise", "to_intervals"],
    "carbonledger.greenbutton.localtime": ["LocalTimeParameters", "dst_rule_instant"],
    "carbonledger.greenbutton.model": [
        "ACCUMULATION_NAMES", "CURRENCIES", "FLOW_DIRECTION_NAMES", "SERVICE_KINDS", "UOM",
        "GreenButtonDocument", "IntervalBlock", "IntervalReading", "MeterReading",
        "ReadingColumns", "ReadingType", "SummaryMeasurement", "UsagePoint", "UsageSummary",
    ],
    "carbonledger.greenbutton.resources": [
        "ATOM", "ATOM_NS", "ESPI", "ESPI_NS", "Builder", "Raw", "norm_href", "split_tag",
    ],
    "carbonledger.greenbutton.results": [
        "BillsFromGreenButton", "Interval", "MeterSummary", "Summary", "UsagePointSummary",
    ],
    "carbonledger.greenbutton.parser": [
        "ATOM_NS", "DEFAULT_MAX_BYTES", "ESPI_NS", "parse_bytes", "parse_file",
    ],
    "carbonledger.ports.channels": ["ChannelStore"],
    "carbonledger.ports.ledger": [
        "Checkpoint", "InclusionProof", "ItemQuery", "LedgerPort", "PeriodKey", "Receipt",
        "StoredItem", "VerifyReport",
    ],
    "carbonledger.services.access": ["ReadAccess", "record_read"],
    "carbonledger.services.audit": ["AuditReport", "run_audit"],
    "carbonledger.services.bills_csv": [
        "COLUMNS", "DECODE_ERRORS", "MAX_LINE_CHARS", "ParsedBills", "RowParser", "count_lines",
        "iter_bills", "parse_bills", "read_header", "read_rows",
    ],
    "carbonledger.services.channels": [
        "ChannelKeys", "fresh_epochs", "grant", "new_epoch_keys", "revocation_keys", "revoke",
        "rotate", "state_to_read", "submit_one", "wrap_context",
    ],
    "carbonledger.services.dao": [
        "Part", "cancel", "execute", "fund_action", "holders", "issue_tokens", "list_proposals",
        "offset_action", "param_action", "params_view", "parse_param", "parts_from_spec",
        "preview_votes", "project_ref", "proposal_view", "propose", "queue", "rec_action",
        "release", "settle", "setup", "transfer_tokens", "vote", "withdraw_vote",
    ],
    "carbonledger.demo.story": ["DEMO_YEAR", "DemoResult", "move_aside", "run_demo"],
    "carbonledger.demo.travel": ["TRIPS_CSV", "import_demo_travel"],
    "carbonledger.demo.dao": ["DEMO_PARAMS", "DEMO_PROJECT", "run_dao_demo"],
    "carbonledger.demo.meters": [
        "TAMPERED_MONTH", "TAMPER_FACTOR", "hourly_readings", "run_meter_demo",
    ],
    "carbonledger.demo.tokens": ["MARKET", "OFFSET_PROJECT", "run_token_demo"],
    "carbonledger.services.devices": [
        "CredentialReader", "PostReport", "credential_digest", "ledger_status_checker",
        "post_credentials", "publish_status_list", "readings_from_intervals", "register_device",
        "register_utility", "set_device_status",
    ],
    "carbonledger.services.digital_auditor": [
        "TOLERANCE", "DigitalAuditReport", "Finding", "Tolerance", "fast_readings",
        "run_digital_audit",
    ],
    "carbonledger.services.readings_monitor": ["AuditEvent", "ReadingsMonitor"],
    "carbonledger.services.home": [
        "PASSPHRASE_ENV", "USER_PASSPHRASE_ENV", "Home", "closing_ledgers", "default_home",
    ],
    "carbonledger.services.tlog": [
        "TransparencyLog", "consistency_json", "cosigned_file", "latest_cosigned", "log_info",
        "log_of", "prune_blobs", "submit_to_witness", "verify_home",
    ],
    "carbonledger.services.witness": ["LogSource", "Verdict", "WitnessStore", "open_source"],
    "carbonledger.services.identity": [
        "CertificateAuthority", "EnrolmentRequest", "enroll", "make_enrolment_request",
        "register_user", "revoke_user",
    ],
    "carbonledger.services.importer": [
        "ImportReport", "ImportSession", "basis_item", "import_bills", "lost_row",
        "record_item",
        "rotate_stale", "site_location", "tx_items_limit",
    ],
    "carbonledger.services.offsets": [
        "PACKAGE_DIRECTORY", "load_directory", "open_directory", "package_directory",
        "register_directory",
    ],
    "carbonledger.services.parallel_import": ["import_csv_parallel"],
    "carbonledger.services.readings": ["METER_READINGS_TYPE", "post_and_check"],
    "carbonledger.services.totals": [
        "RecordResult",
        "SiteTotal",
        "Totals",
        "emission_totals",
        "readable_results",
    ],
    "carbonledger.services.signin": ["CHALLENGE_SECONDS", "TOKEN_SECONDS", "Actor", "SignIn"],
    "carbonledger.services.backends": [
        "EMBEDDED",
        "EVM",
        "WAITING_FILE",
        "attach_evm",
        "create_embedded",
        "deploy_evm",
        "evm_module",
        "first_block_with_code",
        "home_peer_policy",
        "home_peers",
        "open_evm",
        "open_ledger",
        "prune_blobs",
        "reopener",
    ],
    "carbonledger.services.records": ["RecordReader", "find_item"],
    "carbonledger.services.resubmit": [
        "NONCE_RETRIES", "Lost", "commit_records", "ordered_by_chain", "sign_again",
    ],
    "carbonledger.services.registry": ["announce_node", "register_orgs", "register_sites"],
    "carbonledger.services.scope2": [
        "CSV_COLUMNS", "certificates_for", "consumption_for", "load_moer", "load_residual_mix",
        "net_report", "package_moer", "parse_residual_mix", "report_csv", "scope2_report",
    ],
    "carbonledger.services.sealing": [
        "NUMBER_WIDTH", "PAD_BUCKET", "DetailReader", "SaltPool", "bill_detail",
        "detail_commitment", "pad_details", "pad_to_bucket", "seal_details",
    ],
    "carbonledger.services.tokens": [
        "TOKEN_KINDS", "Balance", "Issued", "balances", "issue_audited", "issue_audited_emissions",
        "issue_offset", "issue_rec", "list_tokens", "mint", "offset_item", "rec_item",
        "resolve_holder", "retire", "retirements", "token_history", "transfer",
    ],
    "carbonledger.web": ["install"],
    "carbonledger.web.charts": ["bar_chart", "fmt", "line_chart"],
    "carbonledger.web.data": [
        "Entry", "InventoryView", "OrgSummary", "inventory_view",
        "market_and_net", "org_summary", "recent_entries",
    ],
    "carbonledger.web.render": [
        "CsrfFailed", "SignInRequired", "WebRoute", "check_csrf", "context", "render",
        "require_user", "write",
    ],
    "carbonledger.web.routes_actions": ["router"],
    "carbonledger.web.routes_auth": ["router"],
    "carbonledger.web.routes_pages": ["router"],
    "carbonledger.web.routes_tokens": ["router"],
    "carbonledger.web.session": [
        "ANON_COOKIE", "SESSION_COOKIE", "WebUser", "clear_session", "csrf_ok", "csrf_token",
        "current_user", "ensure_anon", "keystore_signin", "resolve_account", "set_session",
        "signature_signin", "signin_challenge",
    ],
}  # fmt: skip


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_all_is_pinned_and_every_name_exists(module: str) -> None:
    mod = importlib.import_module(module)
    assert sorted(mod.__all__) == sorted(PUBLIC[module])
    assert len(set(mod.__all__)) == len(mod.__all__), "a name is listed twice"
    missing = [name for name in mod.__all__ if not hasattr(mod, name)]
    assert missing == []


def test_version_matches_the_distribution() -> None:
    from importlib.metadata import version

    assert carbonledger.__version__ == version("carbonledger")


@pytest.mark.parametrize(
    ("name", "builtin"),
    [
        ("InvalidInput", ValueError),
        ("UnknownUnit", ValueError),
        ("RowError", ValueError),
        ("OverlappingPeriod", ValueError),
        ("NotFound", LookupError),
        ("FactorNotFound", LookupError),
        ("Conflict", ValueError),
        ("DuplicateEntity", ValueError),
        ("SignatureInvalid", ValueError),
        ("IntegrityError", ValueError),
        ("ConfigurationError", RuntimeError),
    ],
)
def test_error_hierarchy(name: str, builtin: type[Exception]) -> None:
    cls = getattr(errors, name)
    assert issubclass(cls, CarbonLedgerError)
    assert issubclass(cls, builtin)


@pytest.fixture
def ledger_home(tmp_path: Path):  # type: ignore[no-untyped-def]
    from carbonledger.core.domain import Organisation
    from carbonledger.services.home import Home
    from carbonledger.services.registry import register_orgs

    home = Home(tmp_path / "home")
    key = home.init("api-test", scrypt_n=2**10)
    ledger = home.ledger(key)
    register_orgs(ledger, ledger.channels, key, [Organisation("acme", "Acme")])
    yield home, key, ledger
    ledger.close()


def test_cli_paths_raise_carbonledger_errors(ledger_home, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The service calls behind each CLI command fail with CarbonLedgerError subclasses."""
    from carbonledger.core.calculator import calculate
    from carbonledger.core.domain import Bill, Organisation, Site
    from carbonledger.core.factor_values import Location
    from carbonledger.core.proofdoc import check_proof
    from carbonledger.factors import FactorCatalog
    from carbonledger.services.bills_csv import parse_bills
    from carbonledger.services.home import Home
    from carbonledger.services.importer import import_bills
    from carbonledger.services.records import find_item
    from carbonledger.services.registry import register_orgs, register_sites

    home, key, ledger = ledger_home
    catalog = FactorCatalog()
    bill = Bill("nowhere", "E1", date(2023, 1, 1), date(2023, 1, 31), Decimal(1), "kWh")
    us = Location(subregion="RFCW", country="US")
    calls = [
        (lambda: Home(tmp_path / "none").config(), errors.ConfigurationError),
        (lambda: Home(tmp_path / "none").key("x"), errors.ConfigurationError),
        (lambda: home.init("again"), errors.ConfigurationError),
        (lambda: home.key("wrong passphrase"), CarbonLedgerError),
        (lambda: parse_bills([]), errors.InvalidInput),
        (lambda: parse_bills(["account,start"]), errors.InvalidInput),
        (lambda: find_item(ledger, "nope"), errors.NotFound),
        (lambda: ledger.proof(999), CarbonLedgerError),
        (lambda: check_proof({}), errors.InvalidInput),
        (lambda: check_proof({"format": "carbonledger.proof/1", "item": 1}), CarbonLedgerError),
        (
            lambda: register_orgs(ledger, ledger.channels, key, [Organisation("acme", "Again")]),
            CarbonLedgerError,
        ),
        (lambda: register_sites(ledger, key, [Site("s", "nope", "S", "US")]), CarbonLedgerError),
        (lambda: Site("bad id!", "acme", "S", "US"), errors.InvalidInput),
        (lambda: catalog.resolve("electricity", Location()), errors.FactorNotFound),
        (lambda: catalog.edition("egrid1999"), errors.FactorNotFound),
        (
            lambda: calculate(Decimal(1), "furlong", catalog.resolve("electricity", us)),
            errors.UnknownUnit,
        ),
    ]
    for call, expected in calls:
        with pytest.raises(CarbonLedgerError) as info:
            call()
        assert isinstance(info.value, expected), (info.value, expected)
    # an import rejects rather than raises: the bad bill comes back as a RowError
    report = import_bills(ledger, key, catalog, [bill], store=ledger.channels)
    assert [type(e) for e in report.rejected] == [errors.RowError]
    assert ledger.verify().ok
