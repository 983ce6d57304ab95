--
-- PostgreSQL database dump
--


-- Dumped from database version 15.20 (Debian 15.20-0+deb12u1)
-- Dumped by pg_dump version 15.20 (Debian 15.20-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: churn_predictions; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.churn_predictions (
    model text NOT NULL,
    model_version text NOT NULL,
    alias text NOT NULL,
    id text NOT NULL,
    event_time timestamp without time zone NOT NULL,
    score double precision,
    interval_start timestamp without time zone NOT NULL,
    interval_end timestamp without time zone NOT NULL,
    scored_at timestamp without time zone NOT NULL,
    run_id text NOT NULL
);


--
-- Name: model_monitoring; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.model_monitoring (
    model text,
    window_start timestamp without time zone,
    window_end timestamp without time zone,
    airflow_run_id text,
    champion_version text,
    rows_current bigint,
    rows_matured bigint,
    rows_current_read bigint,
    rows_matured_read bigint,
    sampled boolean,
    drift_share double precision,
    drifted_columns text,
    prediction_psi text,
    metric text,
    metric_holdout double precision,
    metric_current double precision,
    performance_drop double precision,
    drift_detected boolean,
    decision text,
    reasons text,
    report_path text,
    drift_signature text,
    mlflow_run_id text,
    prediction_source text,
    performance_source text,
    rows_served bigint,
    label_coverage double precision,
    challenger_version text,
    challenger_metric double precision,
    champion_shadow_metric double precision,
    served_figures text
);


--
-- Name: model_promotions; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.model_promotions (
    id bigint NOT NULL,
    model text NOT NULL,
    from_version text,
    to_version text NOT NULL,
    action text NOT NULL,
    reason text NOT NULL,
    figures json,
    actor text NOT NULL,
    run_url text NOT NULL,
    at timestamp without time zone NOT NULL
);


--
-- Name: model_promotions_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.model_promotions_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: model_promotions_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.model_promotions_id_seq OWNED BY public.model_promotions.id;


--
-- Name: model_promotions id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.model_promotions ALTER COLUMN id SET DEFAULT nextval('public.model_promotions_id_seq'::regclass);


--
-- Data for Name: churn_predictions; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.churn_predictions VALUES ('churn', '1', 'champion', 'C0', '2026-03-01 03:01:00', 0.1, '2026-03-01 03:00:00', '2026-03-02 03:00:00', '2026-03-02 03:00:00', 'scheduled__2026-03-02');
INSERT INTO public.churn_predictions VALUES ('churn', '1', 'champion', 'C1', '2026-03-01 04:01:00', 0.30000000000000004, '2026-03-01 03:00:00', '2026-03-02 03:00:00', '2026-03-02 03:00:00', 'scheduled__2026-03-02');
INSERT INTO public.churn_predictions VALUES ('churn', '1', 'champion', 'C2', '2026-03-01 05:01:00', 0.5, '2026-03-01 03:00:00', '2026-03-02 03:00:00', '2026-03-02 03:00:00', 'scheduled__2026-03-02');
INSERT INTO public.churn_predictions VALUES ('churn', '1', 'champion', 'C3', '2026-03-01 06:01:00', 0.7000000000000001, '2026-03-01 03:00:00', '2026-03-02 03:00:00', '2026-03-02 03:00:00', 'scheduled__2026-03-02');
INSERT INTO public.churn_predictions VALUES ('churn', '1', 'champion', 'C4', '2026-03-01 07:01:00', 0.9, '2026-03-01 03:00:00', '2026-03-02 03:00:00', '2026-03-02 03:00:00', 'scheduled__2026-03-02');


--
-- Data for Name: model_monitoring; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.model_monitoring VALUES ('churn', '2026-02-23 03:00:00', '2026-03-02 03:00:00', 'scheduled__2026-03-02T03:00:00', '1', 1500, 1500, 1500, 1500, false, 0, '', NULL, 'roc_auc', 0.83, NULL, NULL, false, 'none', '', '/data/artifacts/churn/monitoring/0/drift_report.html', '', 'run0', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
INSERT INTO public.model_monitoring VALUES ('churn', '2026-03-02 03:00:00', '2026-03-09 03:00:00', 'scheduled__2026-03-09T03:00:00', '1', 1500, 1500, 1500, 1500, false, 0.1, 'monthly_charges', '0.02', 'roc_auc', 0.83, 0.8, 0.03, false, 'none', '', '/data/artifacts/churn/monitoring/1/drift_report.html', '', 'run1', 'served', 'served', 1400, 0.9, NULL, NULL, NULL, '{}');
INSERT INTO public.model_monitoring VALUES ('churn', '2026-03-09 03:00:00', '2026-03-16 03:00:00', 'scheduled__2026-03-16T03:00:00', '1', 1500, 1500, 1500, 1500, false, 0.2, 'monthly_charges', '0.02', 'roc_auc', 0.83, 0.8, 0.03, true, 'retrain', 'drift', '/data/artifacts/churn/monitoring/2/drift_report.html', 'monthly_charges', 'run2', 'served', 'served', 1400, 0.9, NULL, NULL, NULL, '{}');


--
-- Data for Name: model_promotions; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.model_promotions VALUES (1, 'churn', NULL, '1', 'promote', 'first model', '{"roc_auc": 0.83}', 'scheduler', '', '2026-12-07 04:29:47.825433');
INSERT INTO public.model_promotions VALUES (2, 'churn', '1', '2', 'promote', 'better', '{"lower_bound": 0.01}', 'scheduler', '', '2026-12-07 04:29:47.923914');
INSERT INTO public.model_promotions VALUES (3, 'churn', '2', '1', 'rollback', 'broken load', '{}', 'admin', '', '2026-12-07 04:29:48.034438');


--
-- Name: model_promotions_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.model_promotions_id_seq', 3, true);


--
-- Name: model_promotions model_promotions_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.model_promotions
    ADD CONSTRAINT model_promotions_pkey PRIMARY KEY (id);


--
-- Name: ix_churn_predictions_interval; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_churn_predictions_interval ON public.churn_predictions USING btree (model, interval_end, interval_start);


--
-- Name: ix_model_promotions_model_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_model_promotions_model_id ON public.model_promotions USING btree (model, id);


--
-- PostgreSQL database dump complete
--


