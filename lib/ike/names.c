/* Names of exchanges, payloads and notify types, for logs (RFC 7296 §3; IANA registry). */
#include "ike/message.h"

const char *ike_exchange_name(uint8_t exchange)
{
	switch (exchange) {
	case IKE_EXCH_IKE_SA_INIT: return "IKE_SA_INIT";
	case IKE_EXCH_IKE_AUTH: return "IKE_AUTH";
	case IKE_EXCH_CREATE_CHILD_SA: return "CREATE_CHILD_SA";
	case IKE_EXCH_INFORMATIONAL: return "INFORMATIONAL";
	default: return "UNKNOWN_EXCHANGE";
	}
}

const char *ike_payload_name(uint8_t type)
{
	switch (type) {
	case IKE_PLD_NONE: return "NONE";
	case IKE_PLD_SA: return "SA";
	case IKE_PLD_KE: return "KE";
	case IKE_PLD_IDI: return "IDi";
	case IKE_PLD_IDR: return "IDr";
	case IKE_PLD_CERT: return "CERT";
	case IKE_PLD_CERTREQ: return "CERTREQ";
	case IKE_PLD_AUTH: return "AUTH";
	case IKE_PLD_NONCE: return "Nonce";
	case IKE_PLD_NOTIFY: return "Notify";
	case IKE_PLD_DELETE: return "Delete";
	case IKE_PLD_VENDOR: return "Vendor ID";
	case IKE_PLD_TSI: return "TSi";
	case IKE_PLD_TSR: return "TSr";
	case IKE_PLD_SK: return "SK";
	case IKE_PLD_CP: return "CP";
	case IKE_PLD_EAP: return "EAP";
	case IKE_PLD_SKF: return "SKF";
	default: return "UNKNOWN_PAYLOAD";
	}
}

const char *ike_notify_name(uint16_t type)
{
	switch (type) {
	case IKE_N_UNSUPPORTED_CRITICAL_PAYLOAD: return "UNSUPPORTED_CRITICAL_PAYLOAD";
	case IKE_N_INVALID_IKE_SPI: return "INVALID_IKE_SPI";
	case IKE_N_INVALID_MAJOR_VERSION: return "INVALID_MAJOR_VERSION";
	case IKE_N_INVALID_SYNTAX: return "INVALID_SYNTAX";
	case IKE_N_INVALID_MESSAGE_ID: return "INVALID_MESSAGE_ID";
	case IKE_N_INVALID_SPI: return "INVALID_SPI";
	case IKE_N_NO_PROPOSAL_CHOSEN: return "NO_PROPOSAL_CHOSEN";
	case IKE_N_INVALID_KE_PAYLOAD: return "INVALID_KE_PAYLOAD";
	case IKE_N_AUTHENTICATION_FAILED: return "AUTHENTICATION_FAILED";
	case IKE_N_SINGLE_PAIR_REQUIRED: return "SINGLE_PAIR_REQUIRED";
	case IKE_N_NO_ADDITIONAL_SAS: return "NO_ADDITIONAL_SAS";
	case IKE_N_INTERNAL_ADDRESS_FAILURE: return "INTERNAL_ADDRESS_FAILURE";
	case IKE_N_FAILED_CP_REQUIRED: return "FAILED_CP_REQUIRED";
	case IKE_N_TS_UNACCEPTABLE: return "TS_UNACCEPTABLE";
	case IKE_N_INVALID_SELECTORS: return "INVALID_SELECTORS";
	case IKE_N_TEMPORARY_FAILURE: return "TEMPORARY_FAILURE";
	case IKE_N_CHILD_SA_NOT_FOUND: return "CHILD_SA_NOT_FOUND";
	case IKE_N_INITIAL_CONTACT: return "INITIAL_CONTACT";
	case IKE_N_SET_WINDOW_SIZE: return "SET_WINDOW_SIZE";
	case IKE_N_ADDITIONAL_TS_POSSIBLE: return "ADDITIONAL_TS_POSSIBLE";
	case IKE_N_IPCOMP_SUPPORTED: return "IPCOMP_SUPPORTED";
	case IKE_N_NAT_DETECTION_SOURCE_IP: return "NAT_DETECTION_SOURCE_IP";
	case IKE_N_NAT_DETECTION_DESTINATION_IP: return "NAT_DETECTION_DESTINATION_IP";
	case IKE_N_COOKIE: return "COOKIE";
	case IKE_N_USE_TRANSPORT_MODE: return "USE_TRANSPORT_MODE";
	case IKE_N_HTTP_CERT_LOOKUP_SUPPORTED: return "HTTP_CERT_LOOKUP_SUPPORTED";
	case IKE_N_REKEY_SA: return "REKEY_SA";
	case IKE_N_ESP_TFC_PADDING_NOT_SUPPORTED: return "ESP_TFC_PADDING_NOT_SUPPORTED";
	case IKE_N_NON_FIRST_FRAGMENTS_ALSO: return "NON_FIRST_FRAGMENTS_ALSO";
	case IKE_N_MOBIKE_SUPPORTED: return "MOBIKE_SUPPORTED";
	case IKE_N_IKEV2_FRAGMENTATION_SUPPORTED: return "IKEV2_FRAGMENTATION_SUPPORTED";
	case IKE_N_SIGNATURE_HASH_ALGORITHMS: return "SIGNATURE_HASH_ALGORITHMS";
	default: return type < 16384 ? "UNKNOWN_ERROR" : "UNKNOWN_STATUS";
	}
}
