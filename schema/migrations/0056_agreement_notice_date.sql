-- agreement_customers gains notice_date: the date a disconnect notice was given to the
-- customer of the agreement version (package registry), the start of the notice period
-- that remote control's safety rules (package control/rules, rule notice_period) wait out
-- before a disconnect: a disconnect is refused before notice_date + the region's
-- notice_days, and refused when the version in force has no notice date. 1970-01-01
-- stands for "no notice" (a Date holds no NULL here; registry.ParseDate never accepts
-- the epoch), and it is what the rows written before this migration read back as.
--
-- It is a column of the private table, not of service_agreements: a disconnect notice
-- tells of unpaid bills, which is personal, so like the name, address and life-support
-- flag it stays out of analyst SQL's reach. Like them it belongs to one agreement version
-- (same agreement_id, valid_from and version): a new notice is a new version of the
-- agreement from the day it holds.
ALTER TABLE {{private}}.agreement_customers
    ADD COLUMN notice_date Date DEFAULT toDate('1970-01-01') AFTER life_support;
