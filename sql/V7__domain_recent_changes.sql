-- The dashboard's home lists the latest status changes: GET /api/v1/domains?sort=-since.
CREATE INDEX domains_status_since ON domains (status_since DESC NULLS LAST, domain);
