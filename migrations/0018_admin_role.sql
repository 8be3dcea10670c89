-- Administrators (issue 16): who may use the database manager's routes (/api/v1/admin/...).
--
-- The local no-login mode's user is an administrator (it is the machine's own user). With accounts,
-- the first account made on a database without other accounts becomes one
-- (workbench/store/accounts.py, create_user); others are made with `workbench admin grant EMAIL`.
-- Accounts that exist already when this migration runs are not made administrators: on a deployment
-- with public sign-up the oldest account may be anybody's, so the operator chooses with the command.
ALTER TABLE users ADD COLUMN is_admin boolean NOT NULL DEFAULT false;
UPDATE users SET is_admin = true WHERE id = '00000000-0000-0000-0000-000000000001';
