-- The foreign key checked every history row against the conversion its own statement had just
-- inserted; see conversionStatusHistory in src/db/schema.ts for why it is gone.
ALTER TABLE "conversion_status_history" DROP CONSTRAINT "conversion_status_history_conversion_id_conversions_id_fk";
